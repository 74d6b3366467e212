"""Transport-neutral HTTP request and response.

Every transport (in-process `responses`, the local server, the direct dispatcher used by the
benchmark) turns what it receives into a `Request`, hands it to the router and writes the
`Response` back. Services never see a transport object.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

_SLASHES = re.compile(r"/{2,}")


class Headers(dict):
    """Case-insensitive header mapping (keys stored lower-case)."""

    def __init__(self, items: Any = None):
        super().__init__()
        if items:
            for k, v in (items.items() if hasattr(items, "items") else items):
                self[k] = v

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())


@dataclass
class Request:
    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    #: PEM or DER of the TLS client certificate the caller presented, if any.
    client_cert: bytes | None = None
    remote_addr: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)
        parts = urlsplit(self.url)
        self.scheme = parts.scheme or "https"
        self.host = (parts.hostname or "").lower()
        try:
            self.port = parts.port
        except ValueError:   # "host:abc" or ":99999": no port (the transports refuse these first)
            self.port = None
        # Microsoft's front doors treat '//' like '/' (the Graph SDK sends /v1.0//devices).
        path = parts.path or "/"
        self.path = _SLASHES.sub("/", path) if "//" in path else path
        self.query_string = parts.query
        self._query: dict[str, str] | None = None
        self._form: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, first value wins; keys as sent."""
        if self._query is None:
            self._query = {k: v[0] for k, v in parse_qs(self.query_string, keep_blank_values=True).items()}
        return self._query

    def form(self) -> dict[str, str]:
        if self._form is None:
            text = self.body.decode("utf-8", "replace") if self.body else ""
            self._form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        return self._form

    def json(self) -> Any:
        """Parsed JSON body; raises ValueError on bad JSON (too deep a nesting included), so every
        service answers its own 400 instead of a RecursionError becoming a 500."""
        text = self.body.decode("utf-8") if self.body else ""
        try:
            return json.loads(text)
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply", text, 0) from None

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def bearer_token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        return None


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json; charset=utf-8") -> Response:
    h = {"Content-Type": content_type}
    if headers:
        h.update(headers)
    return Response(status, h, json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def text_response(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8",
                  headers: dict[str, str] | None = None) -> Response:
    h = {"Content-Type": content_type}
    if headers:
        h.update(headers)
    return Response(status, h, text.encode("utf-8"))


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status, dict(headers or {}), b"")
