"""Direct transport: a small `requests.Session` look-alike that hands serialised HTTP requests to
the router with no HTTP library in between. The simulated device uses it where speed matters
(the benchmark, trainers' demos); it still speaks the wire protocol: URL, headers, body bytes.
"""
from __future__ import annotations

import json as _json
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from ..http import Request
from ..services.router import NotEmulated, default_router
from .client_cert import client_cert_bytes

_UNSET = object()


class DirectResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, url: str):
        self.status_code = status
        self._raw_headers = headers
        self._headers: Any = _UNSET
        self.content = body
        self.url = url

    @property
    def headers(self) -> requests.structures.CaseInsensitiveDict:
        """Case-insensitive headers (built when first read: most callers never look)."""
        if self._headers is _UNSET:
            self._headers = requests.structures.CaseInsensitiveDict(self._raw_headers)
        return self._headers

    @headers.setter
    def headers(self, value: Any) -> None:
        self._headers = value

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def json(self) -> Any:
        return _json.loads(self.content.decode("utf-8"))

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise requests.HTTPError(f"{self.status_code} for url: {self.url}", response=self)  # type: ignore[arg-type]


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    """A dict or a sequence of (key, value) pairs as pairs, without the None values requests drops."""
    items = value.items() if isinstance(value, dict) else value
    return [(k, v) for k, v in items if v is not None]


class DirectSession:
    """Enough of requests.Session for protocol clients: request/get/post/put/patch/delete."""

    def __init__(self, world, router=None):
        self.world = world
        self.router = router or default_router()
        self.headers: dict[str, str] = {}

    def request(self, method: str, url: str, *, params: dict | None = None, data: Any = None,
                json: Any = None, headers: dict | None = None, cert: Any = None, **_: Any) -> DirectResponse:
        if params:
            parts = urlsplit(url)
            q = (parts.query + "&" if parts.query else "") + urlencode(_pairs(params), doseq=True)
            url = urlunsplit((parts.scheme, parts.netloc, parts.path, q, parts.fragment))
        h = dict(self.headers)
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}   # as requests: a None value removes the header
        body = b""
        if json is not None and not data:   # as requests: a non-empty `data` wins over `json`
            body = _json.dumps(json).encode()
            h.setdefault("Content-Type", "application/json")
        elif isinstance(data, (dict, list, tuple)):
            # As requests: a dict or a list of pairs is form-encoded, list values repeat the key.
            body = urlencode(_pairs(data), doseq=True).encode()
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(data, str):
            body = data.encode()
        elif data is not None:
            body = bytes(data)
        req = Request(method, url, h, body, client_cert=client_cert_bytes(cert))
        if not self.router.serves_host(req.host):
            raise requests.ConnectionError(str(NotEmulated(req, [])))
        resp = self.router.dispatch(self.world, req)
        return DirectResponse(resp.status, resp.headers, resp.body, url)

    def get(self, url: str, **kw: Any) -> DirectResponse:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> DirectResponse:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> DirectResponse:
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> DirectResponse:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> DirectResponse:
        return self.request("DELETE", url, **kw)

    def close(self) -> None:
        pass
