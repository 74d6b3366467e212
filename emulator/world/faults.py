"""Deterministic fault rules for testing a tool's error handling: the rules and the decision which
rule fires for a request. They are world state (data); emulator/services/faults.py renders a fired
rule as the answer of the service that was called.

A rule matches host, method and a path pattern (regular expression or glob), then fires on the
nth matching call, on every call from the nth on, a limited number of times, or with a seeded
probability. When it fires it may add latency and/or answer with a status and body. Bodies can be
given literally or by naming a dialect error (`aadsts: 50076`, `graph: TooManyRequests`,
`drs: DirectoryError`), so the fault speaks the service's own language.

`throttle` rules answer 429 with `Retry-After` and keep throttling any client that comes back
before that time is up (the punishing behaviour of Dev Proxy's RetryAfterPlugin), using the
cloud clock.
"""
from __future__ import annotations

import fnmatch
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

#: The longest latency a rule may add (ten minutes): longer would look like a hung server.
MAX_LATENCY_MS = 600_000.0
#: Dialect names a rule's `error` may start with (see dialects.py).
_DIALECTS = ("aadsts", "graph", "drs", "intune")


@dataclass
class FaultRule:
    host: str | None = None              # exact host, or None for any
    method: str | None = None            # GET/POST/..., or None for any
    path: str | None = None              # regex (if it starts with ^) or glob, case-insensitive
    nth: int | None = None               # fire on the nth matching call only (1-based)
    after: int | None = None             # fire on every call after the first `after` matches
    times: int | None = None             # stop after firing this many times
    probability: float | None = None     # fire with this probability (seeded)
    latency_ms: float = 0.0
    status: int | None = None
    body: Any = None                     # dict/list -> JSON, str -> text
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None             # "aadsts:50076", "graph:TooManyRequests", "drs:DirectoryError"
    throttle_seconds: float | None = None
    name: str = ""
    # runtime
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        self._validate()
        if self.path and self.path.startswith("^"):
            self._rx = re.compile(self.path, re.IGNORECASE)
        elif self.path:
            self._rx = re.compile(fnmatch.translate(self.path), re.IGNORECASE)
        else:
            self._rx = None
        self._throttled_until: dict[str, float] = {}

    def _validate(self) -> None:
        """Refuse a rule that could only fail later, on the request it fires for (TypeError for a
        wrong type, ValueError for a value out of range; the message names the field)."""
        def want(name: str, ok: bool, what: str) -> None:
            if not ok:
                value = getattr(self, name)
                err = TypeError if value is not None and not isinstance(value, (int, float, str)) else ValueError
                raise err(f"fault rule field '{name}' must be {what}, not {value!r:.80}")

        def count(v: Any) -> bool:
            return v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)

        def number(v: Any, lo: float, hi: float) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi  # (NaN fails)

        if isinstance(self.headers, dict):   # YAML writes `Retry-After: 30` as a number
            self.headers = {k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                            for k, v in self.headers.items()}
        for name in ("host", "method", "path", "error"):
            want(name, getattr(self, name) is None or isinstance(getattr(self, name), str), "a string")
        if self.name is None:
            self.name = ""
        want("name", isinstance(self.name, str), "a string")
        want("nth", count(self.nth) and self.nth != 0, "a positive integer (1 = the first matching call)")
        want("after", count(self.after), "a non-negative integer")
        want("times", count(self.times), "a non-negative integer")
        want("probability", self.probability is None or number(self.probability, 0.0, 1.0), "a number from 0 to 1")
        want("latency_ms", number(self.latency_ms, 0.0, MAX_LATENCY_MS),
             f"a number of milliseconds from 0 to {MAX_LATENCY_MS:.0f}")
        want("status", self.status is None or (isinstance(self.status, int) and not isinstance(self.status, bool)
                                               and 100 <= self.status <= 599), "an HTTP status from 100 to 599")
        want("throttle_seconds", self.throttle_seconds is None or number(self.throttle_seconds, 0.001, 86400.0),
             "a number of seconds from 0.001 to 86400")
        want("headers", isinstance(self.headers, dict)
             and all(isinstance(k, str) and isinstance(v, str) and "\n" not in k + v and "\r" not in k + v
                     for k, v in self.headers.items()), "an object of header names to string values")
        if self.error is not None and ":" not in self.error and self.error.strip().lower() not in _DIALECTS:
            raise ValueError(f"fault rule field 'error' must name a dialect and a code, e.g. 'aadsts:50076', "
                             f"'graph:TooManyRequests', 'drs:DirectoryError', 'intune:DeviceCapReached'; "
                             f"not {self.error!r:.80}")

    def matches(self, host: str, method: str, path: str) -> bool:
        if self.host and self.host.lower() != host:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self._rx is not None and not self._rx.match(path):
            return False
        return True


@dataclass
class FaultDecision:
    """What a fired rule asks for: wait `latency_s`, then answer (unless latency only)."""

    rule: FaultRule
    latency_s: float = 0.0
    answer: bool = True
    #: Seconds for Retry-After when the rule throttles.
    retry_after: float | None = None


class FaultEngine:
    """The ordered rule list of one world. First rule that fires wins."""

    def __init__(self, seed: int | str = 0, sleep=time.sleep):
        self.rules: list[FaultRule] = []
        self._rng = random.Random(f"faults:{seed}")
        self._lock = threading.Lock()
        self._sleep = sleep
        self.log: list[dict[str, Any]] = []

    def add(self, rule: FaultRule | dict[str, Any] | None = None, **fields: Any) -> FaultRule:
        """Add a rule: a FaultRule, a dict of its fields, or the fields as keywords, e.g.
        `world.faults.add(host="graph.microsoft.com", path="/v1.0/devices", nth=3, status=503)`."""
        if rule is None:
            rule = FaultRule(**fields)
        elif isinstance(rule, dict):
            rule = FaultRule(**rule)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.log.clear()

    def decide(self, host: str, method: str, path: str, *, client: str, now: float) -> FaultDecision | None:
        """The rule that fires for this request, if any (`client` keys throttling: who retries)."""
        if not self.rules:
            return None
        with self._lock:
            for rule in self.rules:
                if not rule.matches(host, method, path):
                    continue
                rule.seen += 1
                if rule.throttle_seconds is not None:
                    if self._throttles(rule, client, now):
                        self.log.append({"rule": rule.name, "call": rule.seen, "path": path, "status": 429})
                        return FaultDecision(rule, retry_after=rule.throttle_seconds)
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.nth is not None and rule.seen != rule.nth:
                    continue
                if rule.after is not None and rule.seen <= rule.after:
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                self.log.append({"rule": rule.name, "call": rule.seen, "path": path, "status": rule.status})
                answer = not (rule.status is None and rule.error is None and rule.body is None)
                return FaultDecision(rule, latency_s=rule.latency_ms / 1000.0, answer=answer)
        return None

    def _throttles(self, rule: FaultRule, client: str, now: float) -> bool:
        """429 for the nth call (or every call past `after`), and again for anyone retrying early."""
        until = rule._throttled_until.get(client)
        if until is not None and now < until:
            # Retried too early: throttle again and restart the wait.
            rule._throttled_until[client] = now + rule.throttle_seconds
            return True
        trigger = ((rule.nth is not None and rule.seen == rule.nth)
                   or (rule.after is not None and rule.seen > rule.after)
                   or (rule.nth is None and rule.after is None and rule.probability is None)
                   or (rule.probability is not None and self._rng.random() < rule.probability))
        if rule.times is not None and rule.fired >= rule.times:
            trigger = False
        if not trigger:
            return False
        rule.fired += 1
        rule._throttled_until[client] = now + rule.throttle_seconds
        return True
