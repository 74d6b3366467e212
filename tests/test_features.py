"""Binds every feature in features/ to the step library in steps/."""
from pytest_bdd import scenarios

from entra_emu_steps import *  # noqa: F401,F403  (step definitions are fixtures)

scenarios(".")
