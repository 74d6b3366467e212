"""The shipped scenario files (failure modes as data), installed as the package ``entra_emu_scenarios``.

This folder holds YAML only; the loader is ``emulator.scenarios``. The installed name is not
``scenarios`` so that it never collides with a ``scenarios`` package in a user's own test tree.
"""
