"""The README's example test runs as written, as a user's own test file would."""
import re
from pathlib import Path

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_msal_example_passes(pytester):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    pytester.makepyfile(test_users_own=code)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=2)
