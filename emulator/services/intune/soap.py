"""The SOAP helpers of the Intune enrollment service: they live in `emulator.wire.soap`, shared
with the device's enrollment client; this module re-exports them for existing importers."""

from ...wire.soap import *  # noqa: F401,F403
