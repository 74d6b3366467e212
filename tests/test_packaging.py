"""The installed package: every package of the source tree is listed, and the repository folders
steps/ and scenarios/ are installed under names that cannot collide with a user's own folders."""
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_emulator_package_is_installed():
    listed = set(_config()["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "emulator").rglob("__init__.py")}
    assert on_disk - listed == set(), "add the new package to [tool.setuptools] packages in pyproject.toml"


def test_steps_and_scenarios_install_under_their_own_names():
    dirs = _config()["package-dir"]
    assert dirs == {"entra_emu_steps": "steps", "entra_emu_scenarios": "scenarios"}
    import entra_emu_scenarios
    import entra_emu_steps

    assert Path(entra_emu_steps.__file__).parent == ROOT / "steps"
    assert Path(entra_emu_scenarios.__file__).parent == ROOT / "scenarios"
