"""Step definitions in the guide's own words, for pytest-bdd.

Use them from your own suite with one line in conftest.py:

    pytest_plugins = ["entra_emu_steps"]

Every step is a pytest fixture (pytest-bdd's design); they share one `lab` fixture: an emulated
cloud, a tenant, its users and a simulated Windows 11 PC. docs/steps.md lists every phrasing.
"""
# The order matters: later modules refine the phrasings of earlier ones (import sorting is off here).
from .fixtures import *  # noqa: F401,F403
from .tenant_steps import *  # noqa: F401,F403
from .device_steps import *  # noqa: F401,F403
from .check_steps import *  # noqa: F401,F403
from .vocabulary_steps import *  # noqa: F401,F403
from .scenario_steps import *  # noqa: F401,F403
