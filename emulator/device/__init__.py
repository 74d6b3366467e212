"""The simulated Windows 11 device (a client of the emulated cloud over HTTP)."""
from .screens import ElementNotFound, Screen
from .windows import JoinState, PrtState, WindowsDevice

__all__ = ["WindowsDevice", "ElementNotFound", "Screen", "JoinState", "PrtState"]
