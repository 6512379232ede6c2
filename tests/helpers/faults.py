"""A fault-injecting HTTP proxy on 127.0.0.1, in front of a plain-HTTP emulated API server.

Each request is either passed through (watch streams included, chunk by chunk) or answered with a
fault chosen by a ``plan``: ``("status", 500)``, ``("status", 429, retry_after)``, ``("reset",)``
(the connection is cut after a partial response), ``("hang", seconds)`` (the proxy accepts and says
nothing for that long) or ``("down",)`` (the connection is closed at once, as a stopped server's
would be refused). The proxy counts what it did, so a test can assert that faults really happened.
Traffic goes only to the loopback upstream given; every fault is bounded in time.
"""
from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

Plan = Callable[[str, str, int], tuple]
PASS: tuple = ("pass",)


DEFAULT_FAULTS: tuple[tuple, ...] = (("status", 500), ("status", 429, 1), ("reset",))


def random_plan(rate: float, *, seed: int = 7, faults: tuple[tuple, ...] = DEFAULT_FAULTS) -> Plan:
    """A plan failing about ``rate`` of requests, each fault drawn from ``faults``; reproducible by seed."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def plan(method: str, path: str, n: int) -> tuple:
        with lock:
            return rng.choice(faults) if rng.random() < rate else PASS
    return plan


def window_plan(fault: tuple, start: float, seconds: float) -> Plan:
    """A plan applying ``fault`` to every request in [start, start + seconds) of the monotonic clock (an outage)."""
    def plan(method: str, path: str, n: int) -> tuple:
        now = time.monotonic()
        return fault if start <= now < start + seconds else PASS
    return plan


class FaultProxy:
    """Start with ``FaultProxy(upstream).start()``; ``.url`` is the address to give the client."""

    def __init__(self, upstream: str, plan: Plan | None = None) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.scheme != "http":
            raise ValueError(f"the fault proxy only fronts a plain-HTTP loopback server, not {upstream}")
        self.upstream = (parts.hostname, parts.port)
        self.plan: Plan = plan or (lambda m, p, n: PASS)
        self.counts: Counter[str] = Counter()
        self._n = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FaultProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _any(self) -> None:
                with proxy._lock:
                    proxy._n += 1
                    n = proxy._n
                fault = proxy.plan(self.command, self.path, n)
                proxy.counts[fault[0] if fault[0] != "status" else f"status {fault[1]}"] += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if fault[0] == "pass":
                    proxy._forward(self, body)
                elif fault[0] == "status":
                    payload = (b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected fault",'
                               b'"code":%d}' % fault[1])
                    self.send_response(fault[1])
                    if len(fault) > 2:
                        self.send_header("Retry-After", str(fault[2]))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                elif fault[0] == "reset":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"kind":')
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif fault[0] == "hang":
                    time.sleep(min(float(fault[1]), 120.0))
                    self.close_connection = True
                else:  # down
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> None:
        conn = http.client.HTTPConnection(*self.upstream, timeout=330)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(handler.command, handler.path, body=body, headers=headers)
        resp = conn.getresponse()
        handler.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                handler.send_header(k, v)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            while True:
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    break
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
        finally:
            conn.close()
