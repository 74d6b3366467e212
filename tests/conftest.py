"""Shared test configuration: the emulator's pytest plugin is loaded by its entry point."""
