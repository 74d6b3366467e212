"""The local server: one port that any tool, in any language, can use to reach the emulator.

On that one port (127.0.0.1 by default) the server speaks:

* **HTTPS proxy**: `CONNECT login.microsoftonline.com:443` (or any emulated Microsoft host) is
  answered by the server itself, which terminates TLS with a certificate for that host signed by
  its own CA, then serves any number of requests inside the tunnel (keep-alive). The request URL
  is rebuilt as `https://<Host header><path>`. CONNECT to any other host is refused with 403 and
  never forwarded. Clients need only `HTTPS_PROXY` and a CA bundle (see `export_lines`).
* **Base URL**: `http://127.0.0.1:PORT/<host>/<path>` (or `https://`: the port also accepts TLS
  directly) for tools that take an endpoint override, e.g. `/graph.microsoft.com/v1.0/devices`.
  A request whose Host header is an emulated host is served as that host.
* **Control API** under `/_emu/` (emulator/transport/control.py, docs/server.md).

Each connection has its own thread; the world's handlers serialise what they must with
`world.lock`. A request the emulator does not serve gets a JSON 404 naming it; a handler bug gets
a JSON 500 (the router's); no traceback ever reaches a client.
"""
from __future__ import annotations

import logging
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..http import Headers, Request, Response, json_response
from . import tls

log = logging.getLogger("emulator.server")

DEFAULT_PORT = 8443
MAX_LINE = 65536
MAX_HEADERS = 200
MAX_BODY = 64 * 1024 * 1024
KEEPALIVE_TIMEOUT = 120.0
CONTROL_PREFIX = "/_emu"

_REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently",
    302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    411: "Length Required", 412: "Precondition Failed", 413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class _Conn:
    """What the handler knows about the connection a request came on."""

    sock: Any
    remote_addr: str
    tls: bool = False
    tunnel_host: str | None = None   # host of the CONNECT that opened this tunnel
    client_cert: bytes | None = None


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    block_on_close = False

    def __init__(self, addr, handler, emu: "EmulatorServer"):
        self.emu = emu
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):  # never print tracebacks for client hiccups
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        emu = self.server.emu
        sock: socket.socket = self.request
        emu._track(sock, True)
        emu.stats["connections"] += 1
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(KEEPALIVE_TIMEOUT)
            conn = _Conn(sock, self.client_address[0])
            # One port, two protocols: a TLS ClientHello starts with 0x16.
            first = sock.recv(1, socket.MSG_PEEK)
            if not first:
                return
            if first == b"\x16":
                conn = self._start_tls(conn, None)
                if conn is None:
                    return
            self._serve(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            emu._track(sock, False)

    # -- TLS --------------------------------------------------------------------------------
    def _start_tls(self, conn: _Conn, tunnel_host: str | None) -> _Conn | None:
        ctx = self.server.emu.ssl_context()
        try:
            tsock = ctx.wrap_socket(conn.sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", conn.remote_addr, exc)
            return None
        self.server.emu._track(tsock, True)
        cert = None
        try:
            cert = tsock.getpeercert(binary_form=True)
        except (ValueError, ssl.SSLError):
            pass
        return _Conn(tsock, conn.remote_addr, True, tunnel_host, cert or None)

    # -- HTTP/1.1 loop ----------------------------------------------------------------------
    def _serve(self, conn: _Conn) -> None:
        emu = self.server.emu
        rfile = conn.sock.makefile("rb", buffering=65536)
        try:
            while not emu._stopping:
                try:
                    parsed = self._read_request(conn, rfile)
                except _BadRequest as exc:
                    self._write(conn, json_response({"error": "bad_request", "error_description": str(exc)},
                                                    exc.status), keep_alive=False)
                    return
                if parsed is None:
                    return
                method, target, version, headers, body = parsed
                keep_alive = _keep_alive(version, headers)
                if method == "CONNECT":
                    if conn.tunnel_host is not None or conn.tls:
                        self._write(conn, json_response({"error": "bad_request",
                                                         "error_description": "CONNECT inside a tunnel."}, 400),
                                    keep_alive=False)
                        return
                    host, port = _split_hostport(target, 443)
                    if not emu.may_tunnel(host, port):
                        emu.stats["refused_connects"] += 1
                        self._write(conn, json_response(
                            {"error": "forbidden",
                             "error_description": f"entra-emu does not emulate {host}:{port} and never forwards "
                                                  "traffic. Add that host to NO_PROXY."}, 403), keep_alive=False)
                        return
                    emu.stats["tunnels"] += 1
                    conn.sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    tconn = self._start_tls(conn, host)
                    if tconn is None:
                        return
                    rfile.close()
                    conn = tconn
                    rfile = conn.sock.makefile("rb", buffering=65536)
                    continue
                resp = emu.handle(method, target, headers, body, conn)
                self._write(conn, resp, keep_alive=keep_alive, head=(method == "HEAD"))
                if not keep_alive:
                    return
        finally:
            try:
                rfile.close()
            except OSError:
                pass
            if conn.tls:
                try:
                    conn.sock.close()
                except OSError:
                    pass

    def _read_request(self, conn: _Conn, rfile):
        line = rfile.readline(MAX_LINE + 1)
        while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between requests (RFC 9112 §2.2)
            line = rfile.readline(MAX_LINE + 1)
        if not line:
            return None
        if len(line) > MAX_LINE:
            raise _BadRequest(414, "Request line too long.")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise _BadRequest(400, f"Malformed request line: {line[:100]!r}")
        method, target, version = parts
        headers = Headers()
        raw: list[tuple[str, str]] = []
        for _ in range(MAX_HEADERS + 1):
            h = rfile.readline(MAX_LINE + 1)
            if not h:
                return None
            if h in (b"\r\n", b"\n"):
                break
            if len(h) > MAX_LINE:
                raise _BadRequest(431, "Header line too long.")
            name, sep, value = h.decode("latin-1").partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, f"Malformed header line: {h[:100]!r}")
            value = value.strip()
            key = name.lower()
            if key in headers and key not in ("host", "content-length"):
                headers[key] = headers[key] + ", " + value
            else:
                headers[key] = value
            raw.append((name, value))
        else:
            raise _BadRequest(431, "Too many header lines.")
        body = b""
        if method != "CONNECT":
            te = headers.get("transfer-encoding", "").lower()
            cl = headers.get("content-length")
            expects = headers.get("expect", "").lower() == "100-continue"
            if te or cl:
                if expects and version == "HTTP/1.1":
                    conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if "chunked" in te:
                body = _read_chunked(rfile)
            elif cl is not None:
                try:
                    n = int(cl)
                except ValueError:
                    raise _BadRequest(400, "Bad Content-Length.") from None
                if n < 0:
                    raise _BadRequest(400, "Bad Content-Length.")
                if n > MAX_BODY:
                    raise _BadRequest(413, "Request body too large.")
                body = rfile.read(n) if n else b""
                if len(body) != n:
                    return None
        return method.upper(), target, version, headers, body

    def _write(self, conn: _Conn, resp: Response, *, keep_alive: bool, head: bool = False) -> None:
        status = int(resp.status)
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        has_ct = False
        for k, v in resp.headers.items():
            lk = k.lower()
            if lk in ("content-length", "connection", "transfer-encoding"):
                continue
            if lk == "content-type":
                has_ct = True
            if isinstance(v, (list, tuple)):
                lines.extend(f"{k}: {x}" for x in v)
            else:
                lines.append(f"{k}: {v}")
        body = resp.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body and not has_ct:
            lines.append("Content-Type: application/octet-stream")
        if status >= 200 and status not in (204, 304):
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if head or status in (204, 304) or not body:
            conn.sock.sendall(head_bytes)
        elif len(body) >= _GATHER_MIN and not conn.tls:
            _send_gathered(conn.sock, head_bytes, body)
        else:
            conn.sock.sendall(head_bytes + body)


#: Bodies from this size on go out with the head in one gathered write instead of being copied
#: behind it first (plain TCP only: TLS sockets have no sendmsg).
_GATHER_MIN = 16384


def _send_gathered(sock, head: bytes, body: bytes) -> None:
    """`sock.sendall(head + body)` without building `head + body`."""
    try:
        sent = sock.sendmsg([head, body])
    except (AttributeError, NotImplementedError):
        sock.sendall(head + body)
        return
    if sent < len(head):
        sock.sendall(head[sent:])
        sock.sendall(body)
    elif sent < len(head) + len(body):
        sock.sendall(memoryview(body)[sent - len(head):])


def _read_chunked(rfile) -> bytes:
    out = bytearray()
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if not line:
            raise _BadRequest(400, "Truncated chunked body.")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400, "Bad chunk size.") from None
        if size == 0:
            while True:  # trailers
                t = rfile.readline(MAX_LINE + 1)
                if t in (b"\r\n", b"\n", b""):
                    return bytes(out)
        out += rfile.read(size)
        if len(out) > MAX_BODY:
            raise _BadRequest(413, "Request body too large.")
        rfile.readline(MAX_LINE + 1)


def _keep_alive(version: str, headers: Headers) -> bool:
    c = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in c
    return "close" not in c


def _split_hostport(value: str, default_port: int) -> tuple[str, int]:
    value = value.strip()
    if value.startswith("["):  # [::1]:443
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    try:
        return host.lower(), int(port) if port else default_port
    except ValueError:
        return host.lower(), default_port


class EmulatorServer:
    """A threaded local server for one world (many tenants).

    >>> with EmulatorServer(port=0) as srv:          # doctest: +SKIP
    ...     print(srv.url, srv.env())
    """

    def __init__(self, world=None, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 state_dir: str | os.PathLike | None = None, seed: int | str = 0, router=None,
                 scenario: str | None = None):
        if world is None:
            from ..world.world import World

            world = World(seed)
        self.world = world
        self.seed = getattr(world, "seed", seed)
        self._router = router
        self.tls_files = tls.ensure_tls_files(state_dir, self._router_hosts())
        self._ssl_ctx: ssl.SSLContext | None = None
        self._ssl_world: Any = None
        self._ctx_lock = threading.Lock()
        self._conns: set = set()
        self._conns_lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.stats = {"connections": 0, "tunnels": 0, "refused_connects": 0}
        self.started = time.time()
        self.httpd = _TCPServer((host, port), _Handler, self)
        self.host = host
        self.port = self.httpd.server_address[1]
        from .control import ControlAPI

        self.control = ControlAPI(self)
        if scenario:
            self.control.load_scenario_path(scenario)

    # -- wiring -----------------------------------------------------------------------------
    @property
    def router(self):
        if self._router is None:
            from ..services.router import default_router

            self._router = default_router()
        return self._router

    def _router_hosts(self) -> list[str]:
        try:
            return sorted(self.router.hosts)
        except Exception:  # noqa: BLE001 - a service module not written yet must not stop the server
            log.warning("could not build the default router", exc_info=True)
            return []

    def emulated_hosts(self) -> set[str]:
        hosts = {h for h in tls.DEFAULT_SANS if "." in h and not h[0].isdigit()}
        try:
            hosts |= set(self.router.hosts)
        except Exception:  # noqa: BLE001
            pass
        return hosts

    def may_tunnel(self, host: str, port: int) -> bool:
        if host in ("127.0.0.1", "localhost", "::1"):
            return port == self.port
        return host in self._emulated

    def set_world(self, world) -> None:
        """Swap the world (reset / snapshot restore). Requests in flight finish on the old one."""
        self.world = world
        self.seed = getattr(world, "seed", self.seed)

    def ssl_context(self) -> ssl.SSLContext:
        world = self.world
        ctx = self._ssl_ctx
        if ctx is None or self._ssl_world is not world:
            with self._ctx_lock:
                if self._ssl_ctx is None or self._ssl_world is not world:
                    self._ssl_ctx = tls.server_context(self.tls_files, world)
                    self._ssl_world = world
                ctx = self._ssl_ctx
        return ctx

    def _track(self, sock, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(sock)
            else:
                self._conns.discard(sock)

    # -- one request ------------------------------------------------------------------------
    def resolve(self, target: str, headers: Headers, conn: _Conn) -> tuple[str, str | None]:
        """('service', url) for an emulated request, ('control', path?query) or ('none', message)."""
        scheme = "https" if conn.tls else "http"
        if target.startswith(("http://", "https://")):  # absolute form (plain HTTP proxy use)
            parts = urlsplit(target)
            host = (parts.hostname or "").lower()
            if host in self._emulated:
                return "service", target
            if host not in ("127.0.0.1", "localhost", "::1"):
                return "forbidden", host
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        if not target.startswith("/"):
            return "none", f"Unsupported request target {target[:100]!r}."
        host_header = headers.get("host", "") or (conn.tunnel_host or "")
        host, _ = _split_hostport(host_header, 443)
        if host in self._emulated:
            return "service", f"https://{host_header}{target}"
        if conn.tunnel_host and conn.tunnel_host in self._emulated and not host_header:
            return "service", f"https://{conn.tunnel_host}{target}"
        if target == CONTROL_PREFIX or target.startswith(CONTROL_PREFIX + "/") or target.startswith(CONTROL_PREFIX + "?"):
            return "control", target
        seg, _, rest = target[1:].partition("/")
        seg_host = seg.split("?", 1)[0].lower()
        if seg_host in self._emulated:
            if "?" in seg:
                rest = "?" + seg.split("?", 1)[1]
            elif not rest.startswith("?"):
                rest = "/" + rest
            return "service", f"https://{seg_host}{rest}"
        if "." in seg_host and ":" not in seg_host and "=" not in seg_host:
            return "none", (f"entra-emu does not emulate the host {seg_host}. Emulated hosts: "
                            f"{', '.join(sorted(self._emulated))}.")
        return "none", ("Not an emulated route. Use /<host>/<path> (e.g. /graph.microsoft.com/v1.0/devices), "
                        f"HTTPS_PROXY=http://{self.host}:{self.port}, or the control API under {CONTROL_PREFIX}/.")

    def handle(self, method: str, target: str, headers: Headers, body: bytes, conn: _Conn) -> Response:
        try:
            kind, value = self.resolve(target, headers, conn)
            if kind == "control":
                return self.control.handle(method, value or "/", headers, body, conn)
            if kind == "forbidden":
                return json_response({"error": "forbidden",
                                      "error_description": f"entra-emu does not emulate {value} and never "
                                                           "forwards traffic."}, 403)
            if kind == "none":
                return json_response({"error": "not_emulated", "error_description": value}, 404)
            return self.dispatch(Request(method, value or "", headers, body, client_cert=conn.client_cert,
                                         remote_addr=conn.remote_addr))
        except Exception as exc:  # noqa: BLE001 - never a traceback to the client
            if getattr(self.world, "raise_server_errors", False):
                log.exception("request failed")
            else:
                log.error("request %s %s failed", method, target[:200], exc_info=True)
            return json_response({"error": "server_error",
                                  "error_description": f"entra-emu internal error: {type(exc).__name__}: {exc}"},
                                 500)

    def dispatch(self, request: Request) -> Response:
        from ..services.router import NotEmulated

        try:
            return self.router.dispatch(self.world, request)
        except NotEmulated as exc:
            return json_response({"error": "not_emulated", "error_description": str(exc),
                                  "suggestions": exc.suggestions}, 404)

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def _emulated(self) -> set[str]:
        e = getattr(self, "_emulated_cache", None)
        if e is None:
            e = self._emulated_cache = self.emulated_hosts()
        return e

    @property
    def url(self) -> str:
        h = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in h:
            h = f"[{h}]"
        return f"http://{h}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for a client process: proxy, CA bundle for every common TLS stack."""
        bundle = str(self.tls_files.bundle)
        return {
            "HTTPS_PROXY": self.url, "https_proxy": self.url,
            "REQUESTS_CA_BUNDLE": bundle, "SSL_CERT_FILE": bundle, "CURL_CA_BUNDLE": bundle,
            "NODE_EXTRA_CA_CERTS": str(self.tls_files.ca_cert),
            "NO_PROXY": "localhost,127.0.0.1", "no_proxy": "localhost,127.0.0.1",
        }

    def export_lines(self) -> list[str]:
        env = self.env()
        keys = ["HTTPS_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"]
        lines = [f"export {k}={env[k]}" for k in keys]
        lines.append("# NO_PROXY must not list any Microsoft host. Hosts entra-emu does not emulate are refused (403),")
        lines.append("# never forwarded: list the ones your tool also needs in NO_PROXY, e.g.")
        lines.append(f"export NO_PROXY={env['NO_PROXY']}")
        return lines

    def banner(self) -> str:
        return (f"entra-emu serving on {self.url} (HTTPS proxy + base URL {self.url}/<host>/<path>, "
                f"control {self.url}{CONTROL_PREFIX}/), seed={self.seed}, CA {self.tls_files.ca_cert}")

    def start(self) -> "EmulatorServer":
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name=f"entra-emu:{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:  # serve_forever runs in our thread: ask it to return
            self.httpd.shutdown()
        self.httpd.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def print_startup(server: EmulatorServer, out=None) -> None:
    out = out or sys.stdout
    print(server.banner(), file=out)
    for line in server.export_lines():
        print(line, file=out)
    out.flush()
