"""entra-emu: an emulator of Windows 11 joining Microsoft Entra ID, with Intune enrollment.

Public API (imported lazily so that `import emulator` stays cheap):

    from emulator import World, mock_entra, WindowsDevice

    world = World(seed=1)
    tenant = world.create_tenant("Contoso", "contoso.com")
    with mock_entra(world):
        ...  # requests / MSAL / roadlib calls to Microsoft hosts reach the emulator
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["World", "mock_entra", "WindowsDevice", "__version__"]


def __getattr__(name: str):
    if name == "World":
        from .world.world import World

        return World
    if name == "mock_entra":
        from .transport.inprocess import mock_entra

        return mock_entra
    if name == "WindowsDevice":
        from .device.windows import WindowsDevice

        return WindowsDevice
    raise AttributeError(name)
