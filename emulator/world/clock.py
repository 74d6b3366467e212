"""Clocks. The cloud clock is true time (so freezegun controls it) plus an optional offset set
through the control API; a device clock is the cloud clock plus that device's skew."""
from __future__ import annotations

import datetime as _dt
import time as _time

UTC = _dt.timezone.utc


class CloudClock:
    """True time as the Microsoft cloud sees it.

    Reads `time.time()` on every call, so `freezegun.freeze_time` moves it. `offset` (seconds)
    lets a server's control API move the cloud clock for every tenant without freezegun.
    """

    def __init__(self, offset: float = 0.0):
        self.offset = float(offset)

    def timestamp(self) -> float:
        return _time.time() + self.offset

    def now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.timestamp(), UTC)

    def set(self, when: _dt.datetime) -> None:
        """Move the cloud clock so that it reads `when` now."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self.offset = when.timestamp() - _time.time()


class DeviceClock:
    """A device's wall clock: the cloud clock plus a skew the user (or a scenario) set."""

    def __init__(self, cloud: CloudClock, skew_seconds: float = 0.0):
        self.cloud = cloud
        self.skew = float(skew_seconds)

    def timestamp(self) -> float:
        return self.cloud.timestamp() + self.skew

    def now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.timestamp(), UTC)


def iso_z(dt: _dt.datetime) -> str:
    """Graph style: 2025-03-09T10:23:00Z."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def aadsts_timestamp(dt: _dt.datetime) -> str:
    """AADSTS error style: 2025-03-07 21:25:44Z."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def dsreg_time(dt: _dt.datetime) -> str:
    """dsregcmd style: 2025-03-09 10:23:00.000 UTC."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d} UTC"
