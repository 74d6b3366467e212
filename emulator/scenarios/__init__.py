"""Failure modes as data: scenario files, their schema and loader.

    from emulator.scenarios import load_scenario, apply_fix
    scenario = load_scenario(world, "device-limit-reached")   # a name, a path or a parsed dict
    ...                                                       # join with scenario.actor / .device
    result = apply_fix(world, scenario)                       # the admin's fix; device/actor changes
                                                              # come back in result.device / result.actor

File format: docs/scenarios.md. Files: the repository's scenarios/ folder, installed as
the package entra_emu_scenarios (the repository folder scenarios/).
"""
from .loader import (
                     Actor,
                     DeviceSettings,
                     Expectation,
                     FixResult,
                     Scenario,
                     ScenarioInfo,
                     apply_fix,
                     find_scenario,
                     list_scenarios,
                     load_scenario,
                     read_scenario,
                     scenario_dirs,
)
from .schema import FIX_ACTIONS, GUIDE_SECTIONS, ScenarioError, parse_duration, validate

__all__ = ["Actor", "DeviceSettings", "Expectation", "FIX_ACTIONS", "FixResult", "GUIDE_SECTIONS", "Scenario",
           "ScenarioError", "ScenarioInfo", "apply_fix", "find_scenario", "list_scenarios", "load_scenario",
           "parse_duration", "read_scenario", "scenario_dirs", "validate"]
