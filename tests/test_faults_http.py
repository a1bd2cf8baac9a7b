"""Faults of real I/O (issue 11): hostile servers against HttpSource, hostile clients against FlakyService.

Every server and client here is on 127.0.0.1, and every test is bounded in time."""

import contextlib
import socket
import threading
import time

import pytest

from ella_lab import FlakyService, HttpSource, SourceError


class Hostile:
    """A one-connection-at-a-time TCP server on 127.0.0.1 that answers with ``reply(conn)``."""

    def __init__(self, reply):
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(65536)  # the request
                    self.reply(conn, self.stopping)

    def close(self):
        self.stopping.set()
        self.thread.join(10)
        self.listener.close()


@contextlib.contextmanager
def hostile(reply):
    server = Hostile(reply)
    try:
        yield server
    finally:
        server.close()


def drip(conn, stopping):
    body = b"Result from drip for abcd!"[:25]
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 25\r\n\r\n")
    for byte in body:
        if stopping.wait(0.4):
            return
        conn.sendall(bytes([byte]))


def answer(body: bytes, status: str = "200 OK", headers: str = ""):
    def reply(conn, stopping):
        conn.sendall(f"HTTP/1.0 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body)

    return reply


@pytest.mark.timeout(30)
def test_the_timeout_bounds_the_whole_attempt_not_each_read():
    with hostile(drip) as server:
        source = HttpSource("drip", server.url, timeout=1.0)
        started = time.perf_counter()
        with pytest.raises(TimeoutError, match=r"1\.00 s") as info:
            source.fetch("x")
        took = time.perf_counter() - started
    assert "whole attempt" in str(info.value)
    assert took < 3.0, f"a 1 s timeout took {took:.1f} s against a dripping server"


@pytest.mark.timeout(30)
def test_the_body_size_is_capped():
    with hostile(answer(b"x" * 5000)) as server:
        with pytest.raises(SourceError, match="max_bytes=1000"):
            HttpSource("big", server.url, max_bytes=1000).fetch("x")
        assert HttpSource("big", server.url, max_bytes=5000).fetch("x") == "x" * 5000


@pytest.mark.timeout(30)
def test_a_body_larger_than_it_says_is_capped_too():
    def liar(conn, stopping):  # no Content-Length: the body runs until the connection closes
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + b"y" * 300_000)

    with hostile(liar) as server, pytest.raises(SourceError, match="max_bytes=100000"):
        HttpSource("liar", server.url, max_bytes=100_000).fetch("x")


@pytest.mark.timeout(30)
def test_redirects_are_refused_unless_asked():
    with FlakyService("target", latency=0) as target:
        location = f"Location: {target.url}/data/x?attempt=0\r\n"
        with hostile(answer(b"", "302 Found", location)) as server:
            with pytest.raises(SourceError, match="redirect"):
                HttpSource("r", server.url).fetch("x")
            assert HttpSource("r", server.url, follow_redirects=True).fetch("x") == "Result from target for x"
    ftp = answer(b"", "301 Moved", "Location: ftp://127.0.0.1/secret\r\n")
    with hostile(ftp) as server, pytest.raises(SourceError, match="ftp"):
        HttpSource("r", server.url, follow_redirects=True).fetch("x")


@pytest.mark.timeout(30)
def test_invalid_utf8_is_a_source_error():
    with hostile(answer(b"\xff\xfe\xfa")) as server, pytest.raises(SourceError, match="UTF-8"):
        HttpSource("bytes", server.url).fetch("x")


def informational(*statuses: str, final: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"):
    """1xx answers (each with a header, as 103 Early Hints has), then the final answer."""

    def reply(conn, stopping):
        for status in statuses:
            conn.sendall(f"HTTP/1.1 {status}\r\nLink: </style.css>; rel=preload\r\n\r\n".encode())
        conn.sendall(final)

    return reply


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "statuses",
    [
        ("103 Early Hints",),
        ("100 Continue",),
        ("103 Early Hints", "103 Early Hints"),
        ("102 Processing", "100 Continue"),
    ],
)
def test_informational_answers_are_skipped_then_the_final_answer_read(statuses):
    """issue 18: 103 Early Hints then 200 was a SourceError (http.client skips 100 only)."""
    with hostile(informational(*statuses)) as server:
        assert HttpSource("hints", server.url, timeout=5.0).fetch("x") == "hello"


@pytest.mark.timeout(30)
def test_endless_informational_answers_are_a_source_error_not_a_loop():
    endless = informational(*["103 Early Hints"] * 500)
    with hostile(endless) as server, pytest.raises(SourceError, match="informational"):
        HttpSource("hints", server.url, timeout=5.0).fetch("x")


# -- FlakyService against hostile clients ---------------------------------------------------------


@pytest.mark.timeout(30)
def test_an_idle_client_is_hung_up_on():
    with FlakyService("s", latency=0, idle_timeout=0.5) as service:
        lone = socket.create_connection(("127.0.0.1", service.port))  # opens, sends nothing
        lone.settimeout(10)
        started = time.perf_counter()
        assert lone.recv(100) == b""  # the service hung up on it
        assert time.perf_counter() - started < 5
        lone.close()


@pytest.mark.timeout(60)
def test_stop_ends_every_connection_thread():
    before = threading.active_count()
    with FlakyService("s", latency=0, idle_timeout=60) as service:  # only stop() can end them
        idle = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(200)]
        assert HttpSource("s", service.url, timeout=5).fetch("x") == "Result from s for x"  # still serving
        time.sleep(0.5)
        assert threading.active_count() - before > 100  # a thread per idle client, for now
        started = time.perf_counter()
    took = time.perf_counter() - started
    left = threading.active_count() - before
    for sock in idle:
        sock.close()
    assert left <= 0, f"{left} threads left after stop() with 200 idle clients"
    assert took < 10


@pytest.mark.timeout(30)
@pytest.mark.parametrize("query", ["attempt=%C2%B2", "attempt=" + "9" * 5000, "attempt=-1", "attempt=1&attempt=2"])
def test_malformed_queries_get_400(query):
    with FlakyService("s", latency=0) as service:
        with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
            sock.sendall(f"GET /data/x?{query} HTTP/1.0\r\n\r\n".encode())
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.0 400"), reply[:100]
        assert HttpSource("s", service.url).fetch("y") == "Result from s for y"  # the service lives on
