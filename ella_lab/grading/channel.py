"""Signed records between the grader's processes: what a notebook's code writes is never taken for a verdict.

Each record is one line: its JSON, a space, and the HMAC-SHA256 of the JSON under a key that the reader
made and handed to the writer over a pipe of their own. A record is believed only with the right
signature and the next sequence number (``"n"``): a line the notebook's code writes into the channel
(through ``/proc/<pid>/fd``, or a descriptor it found) is counted as forged, never read as data.
Reading is bounded: lines past ``MAX_LINE`` bytes and channels past ``MAX_TOTAL`` bytes are cut, so
whatever a notebook writes, the reader's memory stays small.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_LINE", "MAX_TOTAL", "Reader", "Writer", "new_key"]

MAX_LINE = 256 * 2**10  # one record (a verdict with its message) fits in far less
MAX_TOTAL = 16 * 2**20  # a whole notebook's records fit in far less


def new_key() -> bytes:
    """A fresh random key (32 bytes)."""
    return os.urandom(32)


class Writer:
    """Writes signed records to a file descriptor, numbered from 1."""

    def __init__(self, fd: int, key: bytes) -> None:
        self._fd = fd
        self._mac = _mac(key)
        self._write = os.write  # the function itself: a later ``os.write = ...`` does not reach here
        self._n = 0
        self._lock = threading.Lock()
        self._encode = _encoder()  # records sent from two threads (the audit hook's) keep their order

    def send(self, kind: str, **data: Any) -> None:
        """Write one record ``{"n": ..., "kind": kind, **data}``."""
        with self._lock:
            self._n += 1
            text = self._encode({"n": self._n, "kind": kind, **data})
            mac = self._mac.copy()
            mac.update(text.encode())
            view = memoryview(f"{text} {mac.hexdigest()}\n".encode())
            while view:
                written = self._write(self._fd, view)
                view = view[written:]


def _mac(key: bytes) -> Any:
    """An HMAC-SHA256 object of a C type (``_hashlib.HMAC``): its ``copy``/``update``/``hexdigest`` cannot be
    replaced. ``hmac.HMAC`` is a Python class: a notebook that swapped ``HMAC.copy`` for a function of its own
    (putting it back at once) was handed the keyed object, and signed verdicts of its own."""
    try:
        import _hashlib

        return _hashlib.hmac_new(key, digestmod="sha256")
    except (ImportError, ValueError, AttributeError):  # no OpenSSL: the Python class (the seal still watches it)
        return hmac.new(key, digestmod=hashlib.sha256)


def _encoder():
    """``json.dumps(obj, default=str)``, with the encoder's parts taken now: a later change to ``json.encoder``
    (``encode_basestring_ascii = ...``) does not reach the records."""
    from json import encoder

    make, escape = encoder.c_make_encoder, encoder.encode_basestring_ascii
    if make is None:  # no C accelerator: the pure Python encoder, whose globals a notebook could change
        return lambda obj: json.dumps(obj, default=str, ensure_ascii=True)
    encode = make(None, str, escape, None, ": ", ", ", False, False, True)
    return lambda obj: "".join(encode(obj, 0))


@dataclass
class Reader:
    """Reads the records of a ``Writer`` with ``key``; counts what is not one of them."""

    key: bytes
    forged: int = 0
    cut: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)
    _n: int = 0
    _total: int = 0
    _partial: bytes = b""

    def feed(self, chunk: bytes) -> Iterator[dict[str, Any]]:
        """Take the next bytes read; yield each good record they complete."""
        if self.cut:
            return
        self._total += len(chunk)
        if self._total > MAX_TOTAL:
            self.cut = True
            return
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        if len(self._partial) > MAX_LINE:
            self.forged += 1
            self._partial = b""
        for line in lines:
            record = self._check(line)
            if record is None:
                if line.strip():
                    self.forged += 1
                continue
            self.records.append(record)
            yield record

    def _check(self, line: bytes) -> dict[str, Any] | None:
        if len(line) > MAX_LINE or b" " not in line:
            return None
        text, _, signature = line.rpartition(b" ")
        expected = hmac.new(self.key, text, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(expected, signature.strip()):
            return None
        try:
            record = json.loads(text)
        except ValueError:
            return None
        if not isinstance(record, dict) or record.get("n") != self._n + 1:
            return None  # replayed or reordered: a copy of a good line is still not the next one
        self._n += 1
        return record


def read_all(fd: int, reader: Reader, chunk: int = 65536) -> Iterator[dict[str, Any]]:
    """Every good record from ``fd`` until its end (bounded by ``MAX_TOTAL``: past it, the rest is drained)."""
    while True:
        try:
            data = os.read(fd, chunk)
        except InterruptedError:
            continue
        if not data:
            return
        yield from reader.feed(data)
