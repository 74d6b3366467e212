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

Each connection has its own thread, up to `max_connections` (MAX_CONNECTIONS); the world's
handlers serialise what they must with `world.lock`. When every slot is taken, the connection that
has waited longest for its next request is closed to make room, or, if none is waiting, the new
connection gets a 503. A connection may wait IDLE_TIMEOUT for a request; once its first byte came,
the request line and headers must arrive within HEADER_TIMEOUT, the body within BODY_TIMEOUT (plus
time for its size), and a TLS handshake within HANDSHAKE_TIMEOUT; otherwise it is closed. A request
the emulator does not serve gets a JSON 404 naming it; a handler bug gets a 500 in the called
service's own error shape (the router's); no traceback ever reaches a client.
"""
from __future__ import annotations

import logging
import os
import re
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
#: How long a connection may sit without sending its next request (also each read or write's timeout).
IDLE_TIMEOUT = KEEPALIVE_TIMEOUT = 120.0
#: From a request's first byte to the end of its headers.
HEADER_TIMEOUT = 20.0
#: For a body: this long, plus one second per MIN_BODY_RATE bytes of it.
BODY_TIMEOUT = 60.0
MIN_BODY_RATE = 64 * 1024
#: For the TLS handshake (direct TLS or inside a CONNECT tunnel).
HANDSHAKE_TIMEOUT = 10.0
#: Connections served at once (one thread each).
MAX_CONNECTIONS = 512
#: How often the watchdog looks for connections past their deadline.
_WATCH_INTERVAL = 0.5
CONTROL_PREFIX = "/_emu"

_REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently",
    302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    411: "Length Required", 412: "Precondition Failed", 413: "Payload Too Large", 414: "URI Too Long",
    415: "Unsupported Media Type",
    429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Watch:
    """One connection as the watchdog and the connection limit see it. `deadline` (monotonic
    seconds, 0 for none) is when the connection is closed if still reading; `idle` is set while
    it waits for its next request (it may then be closed to make room for a new connection)."""

    __slots__ = ("sock", "deadline", "idle", "since")

    def __init__(self, sock):
        self.sock = sock
        self.deadline = 0.0
        self.idle = True
        self.since = time.monotonic()


def _kill(sock) -> None:
    """Shut a connection down under a thread blocked reading it (the read returns at once).
    `socket.socket.shutdown` also for TLS sockets: SSLSocket.shutdown would drop its SSL object
    under the reading thread."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass


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

    def __init__(self, addr, handler, emu: EmulatorServer):
        self.emu = emu
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):  # never print tracebacks for client hiccups
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def process_request(self, request, client_address):
        if not self.emu._admit():
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.emu._release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.emu._release()

    def _refuse(self, request) -> None:
        """Every slot busy: a 503 the client can read, then close (from the accepting thread, so
        only a write that cannot block: a new socket's send buffer is empty)."""
        body = (b'{"error":"server_busy","error_description":"entra-emu is serving its maximum of '
                + str(self.emu.max_connections).encode() + b' connections. Retry later."}')
        head = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
                b"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        try:
            request.setblocking(False)
            request.send(head + body)
            try:  # what the client already sent (once, never waiting), so close() is less likely a reset
                request.recv(65536)
            except OSError:
                pass
        except OSError:
            pass
        self.shutdown_request(request)


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        emu = self.server.emu
        sock: socket.socket = self.request
        watch = self.watch = _Watch(sock)
        emu._track(watch, True)
        emu.count_stat("connections")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(IDLE_TIMEOUT)
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
            emu._track(watch, False)

    # -- TLS --------------------------------------------------------------------------------
    def _start_tls(self, conn: _Conn, tunnel_host: str | None) -> _Conn | None:
        ctx = self.server.emu.ssl_context()
        watch = self.watch
        watch.idle = False
        watch.deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        try:
            tsock = ctx.wrap_socket(conn.sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", conn.remote_addr, exc)
            return None
        watch.sock = tsock
        watch.deadline = 0.0
        cert = None
        try:
            cert = tsock.getpeercert(binary_form=True)
        except (ValueError, ssl.SSLError):
            pass
        return _Conn(tsock, conn.remote_addr, True, tunnel_host, cert or None)

    # -- HTTP/1.1 loop ----------------------------------------------------------------------
    def _serve(self, conn: _Conn) -> None:
        emu = self.server.emu
        watch = self.watch
        rfile = conn.sock.makefile("rb", buffering=65536)
        try:
            while not emu._stopping:
                watch.idle = True
                if not rfile.peek(1):   # waits up to IDLE_TIMEOUT (the socket's timeout)
                    return
                watch.idle = False
                watch.since = now = time.monotonic()   # (when the last request began: the idle victim's order)
                watch.deadline = now + HEADER_TIMEOUT
                try:
                    parsed = self._read_request(conn, rfile)
                    watch.deadline = 0.0
                except _BadRequest as exc:
                    watch.deadline = 0.0
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
                    try:
                        host, port = _split_hostport(target, 443)
                    except _BadRequest as exc:
                        self._write(conn, json_response({"error": "bad_request", "error_description": str(exc)},
                                                        400), keep_alive=False)
                        return
                    if not host:
                        self._write(conn, json_response({"error": "bad_request", "error_description":
                                                         "CONNECT needs host:port."}, 400), keep_alive=False)
                        return
                    if not emu.may_tunnel(host, port):
                        emu.count_stat("refused_connects")
                        self._write(conn, json_response(
                            {"error": "forbidden",
                             "error_description": f"entra-emu does not emulate {host}:{port} and never forwards "
                                                  "traffic. Add that host to NO_PROXY."}, 403), keep_alive=False)
                        return
                    emu.count_stat("tunnels")
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
        if version != "HTTP/1.1" and version != "HTTP/1.0":
            v = _VERSION.fullmatch(version)
            if v is None:
                raise _BadRequest(400, f"Malformed HTTP version {version[:20]!r}.")
            if v.group(1) != "1":   # HTTP/1.x only (RFC 9110 §15.6.6)
                raise _BadRequest(505, f"HTTP version {version[:20]} is not supported; use HTTP/1.1.")
        headers = Headers()
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
            # (dict's own methods: `key` is already lower-case, Headers' case folding is not needed)
            prev = _dict_get(headers, key)
            if prev is None:
                _dict_set(headers, key, value)
            elif key == "host":   # RFC 9112 §3.2
                raise _BadRequest(400, "More than one Host header.")
            else:
                _dict_set(headers, key, prev + ", " + value)
        else:
            raise _BadRequest(431, "Too many header lines.")
        host = _dict_get(headers, "host")
        if host is not None and host not in _GOOD_HOSTS:   # RFC 9112 §3.2: a bad Host is a 400
            _split_hostport(host, 443, what="Host header")
            if len(_GOOD_HOSTS) >= 256:
                _GOOD_HOSTS.clear()
            _GOOD_HOSTS.add(host)
        body = b""
        if method != "CONNECT":
            te = _dict_get(headers, "transfer-encoding")
            cl = _dict_get(headers, "content-length")
            if te is not None or cl is not None:
                body = self._read_body(conn, rfile, version, headers, te, cl)
                if body is None:
                    return None
        return method.upper(), target, version, headers, body

    def _read_body(self, conn: _Conn, rfile, version: str, headers: Headers, te: str | None,
                   cl: str | None) -> bytes | None:
        """The body framed by Transfer-Encoding or Content-Length (RFC 9112 §6); None if the client
        hung up inside it."""
        te = (te or "").strip().lower()
        n = None
        if cl is not None:
            sizes = {x.strip() for x in cl.split(",")}   # repeated, or a list: all must agree (RFC 9112 §6.3)
            if len(sizes) != 1 or not _DIGITS.fullmatch(next(iter(sizes))):
                raise _BadRequest(400, "Bad Content-Length.")
            n = int(next(iter(sizes)))
            if n > MAX_BODY:
                raise _BadRequest(413, "Request body too large.")
        if te:
            if te != "chunked":   # gzip, deflate, "chunked, chunked", ...: not decoded here
                raise _BadRequest(501, f"Transfer-Encoding {te[:50]!r} is not implemented; use chunked.")
            if cl is not None or version == "HTTP/1.0":
                # Framing a proxy may have read otherwise: chunked wins, and the connection
                # closes after the answer (RFC 9112 §6.1, §6.3).
                headers["connection"] = "close"
        elif not n:
            return b""
        if version != "HTTP/1.0" and headers.get("expect", "").lower() == "100-continue":
            conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        watch = getattr(self, "watch", None)
        if te:
            return _read_chunked(rfile, watch)
        if watch is not None:
            watch.deadline = time.monotonic() + BODY_TIMEOUT + n / MIN_BODY_RATE
        body = rfile.read(n)
        return body if len(body) == n else None

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


def _read_chunked(rfile, watch: _Watch | None = None) -> bytes:
    out = bytearray()
    start = time.monotonic()
    for _ in range(MAX_BODY):
        line = rfile.readline(MAX_LINE + 1)
        if not line or not line.endswith(b"\n"):
            raise _BadRequest(400, "Truncated chunked body.")
        m = _CHUNK_SIZE.match(line)
        if m is None:
            raise _BadRequest(400, "Bad chunk size.")
        size = int(m.group(1), 16)
        if size == 0:
            for _ in range(MAX_HEADERS + 1):  # trailers, ignored
                t = rfile.readline(MAX_LINE + 1)
                if t in (b"\r\n", b"\n", b""):
                    return bytes(out)
            raise _BadRequest(431, "Too many trailer lines.")
        if len(out) + size > MAX_BODY:   # before reading it
            raise _BadRequest(413, "Request body too large.")
        if watch is not None:
            watch.deadline = start + BODY_TIMEOUT + (len(out) + size) / MIN_BODY_RATE
        data = rfile.read(size)
        if len(data) != size:
            raise _BadRequest(400, "Truncated chunked body.")
        out += data
        if rfile.readline(2) not in (b"\r\n", b"\n"):
            raise _BadRequest(400, "Chunk data not followed by CRLF.")
    raise _BadRequest(400, "Too many chunks.")


_CHUNK_SIZE = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n\Z")
_DIGITS = re.compile(r"[0-9]{1,19}")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_dict_get = dict.get
_dict_set = dict.__setitem__
#: Host header values already found good (a client repeats its Host on every request).
_GOOD_HOSTS: set[str] = set()
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::([0-9]*))?")


def _keep_alive(version: str, headers: Headers) -> bool:
    c = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in c
    return "close" not in c


def _split_hostport(value: str, default_port: int, *, what: str = "authority") -> tuple[str, int]:
    """(host, port) of "host", "host:port" or "[v6]:port"; a bad port (":abc", ":99999") or a
    malformed host raises _BadRequest(400)."""
    value = value.strip()
    m = _HOST.fullmatch(value)
    port = m.group(2) if m else None
    if m is None or (port and (len(port) > 5 or not 0 < int(port) <= 65535)):
        raise _BadRequest(400, f"Bad host or port in the {what}: {value[:100]!r}.")
    host = m.group(1)
    if host.startswith("["):
        host = host[1:-1]
    return host.lower(), int(port) if port else default_port


class EmulatorServer:
    """A threaded local server for one world (many tenants).

    >>> with EmulatorServer(port=0) as srv:          # doctest: +SKIP
    ...     print(srv.url, srv.env())
    """

    def __init__(self, world=None, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 state_dir: str | os.PathLike | None = None, seed: int | str = 0, router=None,
                 scenario: str | None = None, max_connections: int = MAX_CONNECTIONS):
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
        self._conns: set[_Watch] = set()
        self._conns_lock = threading.Lock()
        self._active = 0                      # connections admitted and not yet finished
        self.max_connections = max(1, int(max_connections))
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._watchdog_stop = threading.Event()
        self.stats = {"connections": 0, "tunnels": 0, "refused_connects": 0, "refused_busy": 0,
                      "closed_idle_for_room": 0, "timed_out": 0}
        self._stats_lock = threading.Lock()
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

    def count_stat(self, name: str) -> None:
        """Add one to `stats[name]` (under a lock: connection threads and the watchdog all count)."""
        with self._stats_lock:
            self.stats[name] = self.stats.get(name, 0) + 1

    def _track(self, watch: _Watch, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(watch)
            else:
                self._conns.discard(watch)

    # -- connection limit and timeouts ------------------------------------------------------
    def _admit(self) -> bool:
        """Take a connection slot. When all are taken, close the connection idle the longest (it
        waits for a next request that may never come) and take its place; if none is idle, False."""
        with self._conns_lock:
            if self._active < self.max_connections:
                self._active += 1
                return True
            idle = [w for w in self._conns if w.idle]
            if not idle:
                self.count_stat("refused_busy")
                return False
            victim = min(idle, key=lambda w: w.since)
            victim.idle = False
            self._active += 1
            self.count_stat("closed_idle_for_room")
        _kill(victim.sock)
        return True

    def _release(self) -> None:
        with self._conns_lock:
            self._active -= 1

    def _watch_loop(self) -> None:
        """Close connections past their deadline (slow headers, slow body, slow TLS handshake)."""
        while not self._watchdog_stop.wait(_WATCH_INTERVAL):
            now = time.monotonic()
            with self._conns_lock:
                late = [w for w in self._conns if w.deadline and w.deadline < now]
            for w in late:
                w.deadline = 0.0
                self.count_stat("timed_out")
                log.info("closing a connection that was too slow to send its request")
                _kill(w.sock)

    def _start_watchdog(self) -> None:
        with self._conns_lock:
            if self._watchdog is None:
                self._watchdog_stop.clear()
                self._watchdog = threading.Thread(target=self._watch_loop, name=f"entra-emu-watch:{self.port}",
                                                  daemon=True)
                self._watchdog.start()

    # -- one request ------------------------------------------------------------------------
    def resolve(self, target: str, headers: Headers, conn: _Conn) -> tuple[str, str | None]:
        """('service', url) for an emulated request, ('control', path?query) or ('none', message)."""
        if target.startswith(("http://", "https://")):  # absolute form (plain HTTP proxy use)
            try:
                parts = urlsplit(target)
                host = (parts.hostname or "").lower()
                parts.port   # noqa: B018 - raises on ":abc" / ":99999"
            except ValueError:   # a bad port or an unbalanced IPv6 bracket
                raise _BadRequest(400, f"Bad host or port in the request target {target[:100]!r}.") from None
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
        except _BadRequest as exc:
            return json_response({"error": "bad_request", "error_description": str(exc)}, exc.status)
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

    def start(self) -> EmulatorServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name=f"entra-emu:{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._start_watchdog()
        self.httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:  # serve_forever runs in our thread: ask it to return
            self.httpd.shutdown()
        self.httpd.server_close()
        self._watchdog_stop.set()
        with self._conns_lock:
            conns = list(self._conns)
        for w in conns:
            _kill(w.sock)
        if self._watchdog is not None:
            self._watchdog.join(timeout=2)
            self._watchdog = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def print_startup(server: EmulatorServer, out=None) -> None:
    out = out or sys.stdout
    print(server.banner(), file=out)
    for line in server.export_lines():
        print(line, file=out)
    out.flush()
