"""In-process transport: route `requests` calls (and so MSAL, azure-identity, roadlib) to the
emulator through `responses`, in the manner of moto's `mock_aws`.

    with mock_entra(world) as world:          # context manager
        ...

    @mock_entra()                             # decorator: a fresh World per call
    def test_x(): ...

Every request to an emulated Microsoft host goes to the router. A request to a Microsoft host or
path the emulator does not serve raises `NotEmulated` with a clear message, and a request to any
other host raises `ConnectionError` (nothing reaches the real internet), unless listed in
`passthrough`.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..http import Request
from ..services.router import NotEmulated, default_router
from .client_cert import client_cert_bytes

if TYPE_CHECKING:   # imported when a mock starts: `import emulator` / `mock_entra` stay cheap
    import requests
    import responses

# Microsoft domains refused loudly (NotEmulated) rather than reported as unreachable.
_MICROSOFT_DOMAINS = (r"microsoft\.com|microsoftonline\.com|windows\.net|microsoftonline-p\.com|azure\.com|"
                      r"azure\.net|office\.com|office365\.com|live\.com|msftauth\.net|msauth\.net")


def to_request(prepared: requests.PreparedRequest) -> Request:
    body = prepared.body or b""
    if hasattr(body, "read"):   # a file object given as `data=`
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, (bytes, bytearray)):   # generator / iterable bodies, of bytes or of text
        body = b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body)
    kwargs = getattr(prepared, "req_kwargs", {}) or {}
    return Request(prepared.method or "GET", prepared.url or "", dict(prepared.headers), bytes(body),
                   client_cert=client_cert_bytes(kwargs.get("cert")))


class mock_entra:
    """Context manager / decorator activating the emulator for `requests` in this process."""

    def __init__(self, world=None, *, passthrough: Iterable[str] = (), seed: int | str = 0):
        self._world = world
        self._seed = seed
        self.passthrough = tuple(passthrough)
        self._mock: responses.RequestsMock | None = None
        self.router = default_router()

    @property
    def world(self):
        if self._world is None:
            from ..world.world import World

            self._world = World(seed=self._seed)
        return self._world

    # -- responses plumbing ----------------------------------------------------------------------
    def _callback(self, prepared: requests.PreparedRequest):
        req = to_request(prepared)
        if not self.router.serves_host(req.host):
            raise NotEmulated(req, [])
        resp = self.router.dispatch(self.world, req)  # raises NotEmulated for an unknown path
        headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
        return resp.status, headers, resp.body

    def start(self):
        import responses

        mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        hosts = "|".join(re.escape(h) for h in sorted(self.router.hosts))
        pattern = re.compile(r"https?://([^/:]*\.)?(" + hosts + r"|" + _MICROSOFT_DOMAINS + r")(:\d+)?(/.*)?$",
                             re.IGNORECASE)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            mock.add_callback(method, pattern, callback=self._callback)
        for prefix in self.passthrough:
            mock.add_passthru(prefix)
        mock.start()
        self._mock = mock
        return self.world

    def stop(self):
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._mock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with mock_entra(self._world, passthrough=self.passthrough, seed=self._seed):
                return func(*args, **kwargs)

        return wrapper
