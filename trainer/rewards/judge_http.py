"""HTTP for the VLM judge: one overall deadline per request, a capped body, Retry-After, and
requests that can be abandoned at once.

urllib's `timeout` bounds each socket read, not the request: a server trickling one byte every
half second keeps a "2 s" request alive for minutes, and a thread blocked in such a read delays
the process's exit after an error. Here a watchdog shuts the socket down when the request's
deadline passes, and `Connections.abandon()` shuts down every request still in flight, so a
failed step exits in milliseconds and stops loading the server.
"""
from __future__ import annotations

import email.utils
import http.client
import socket
import threading
import time
from urllib.parse import urlsplit

MAX_RESPONSE_BYTES = 4 << 20       # a one-token completion with top-k logprobs is a few kB


class Transient(Exception):
    """A failure worth retrying: refused / dropped connection, a timeout, HTTP 408 / 429 / 5xx.
    `retry_after`: the seconds the server asked for (Retry-After on 429 / 503), else None."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class Refused(Exception):
    """A failure that a retry would repeat: HTTP 4xx, an unknown host, an oversized answer.
    `code`: the HTTP status (0 when there is none)."""

    def __init__(self, message: str, code: int = 0, hint: str = ""):
        super().__init__(message)
        self.code = code
        self.hint = hint


class Abandoned(Exception):
    """The request was shut down because another one failed."""


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) → seconds from now; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _shutdown(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)      # wakes a thread blocked in recv (close() alone does not)
        except OSError:
            pass


class Connections:
    """The requests of one batch. `request()` from worker threads; `abandon()` from the caller."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: set[http.client.HTTPConnection] = set()
        self.abandoned = threading.Event()

    def abandon(self) -> None:
        """Shut down every request in flight; later requests and backoff waits return at once."""
        self.abandoned.set()
        with self._lock:
            live = list(self._live)
        for conn in live:
            _shutdown(conn)

    def wait(self, seconds: float) -> None:
        """Sleep `seconds` (a backoff), unless the batch is abandoned meanwhile."""
        if self.abandoned.wait(seconds):
            raise Abandoned()

    def request(self, method: str, url: str, data: bytes | None, headers: dict, timeout: float,
                max_bytes: int = MAX_RESPONSE_BYTES) -> bytes:
        """The body of a 2xx answer, within `timeout` seconds overall (connect, send, headers, body).
        Raises Transient, Refused or Abandoned."""
        if self.abandoned.is_set():
            raise Abandoned()
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        expired = threading.Event()

        def expire():
            expired.set()
            _shutdown(conn)

        watchdog = threading.Timer(timeout, expire)
        watchdog.daemon = True
        with self._lock:
            self._live.add(conn)
        try:
            conn.connect()                  # bounded by the socket timeout; the watchdog covers the rest
            watchdog.start()
            if self.abandoned.is_set():
                raise Abandoned()
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise Refused(f"sent an answer of {int(length)} bytes, over the {max_bytes >> 20} MiB a judge "
                              "answer can be", hint="base_url must be an OpenAI-compatible API root")
            body = bytearray()
            while True:
                chunk = resp.read(65536)
                if not chunk:
                    break
                body += chunk
                if len(body) > max_bytes:
                    raise Refused(f"sent more than {max_bytes >> 20} MiB in one answer",
                                  hint="base_url must be an OpenAI-compatible API root")
            if expired.is_set() or self.abandoned.is_set():     # the shut-down socket read as an early EOF
                raise OSError("shut down")
            if length and length.isdigit() and len(body) < int(length):
                raise Transient("connection", f"dropped the connection after {len(body)} of {length} bytes")
            return _status(resp, bytes(body))
        except (Refused, Transient, Abandoned):
            raise
        except (OSError, http.client.HTTPException) as err:
            if expired.is_set():
                raise Transient("timeout", f"did not answer within {timeout:g} s") from None
            if self.abandoned.is_set():
                raise Abandoned() from None
            if isinstance(err, ConnectionRefusedError):
                raise Transient("refused", "refused the connection (is it running? is the port right?)") from None
            if isinstance(err, socket.gaierror):
                raise Refused(f"cannot be found ({err})", hint="Fix the host name in base_url") from None
            if isinstance(err, TimeoutError):
                raise Transient("timeout", f"did not answer within {timeout:g} s") from None
            raise Transient("connection", f"dropped the connection ({type(err).__name__}: {err})") from None
        finally:
            watchdog.cancel()
            with self._lock:
                self._live.discard(conn)
            conn.close()


def _status(resp: http.client.HTTPResponse, body: bytes) -> bytes:
    if 200 <= resp.status < 300:
        return body
    text = body[:300].decode("utf-8", "replace")
    message = f"answered HTTP {resp.status} {resp.reason}: {text}"
    if resp.status in (408, 429) or resp.status >= 500:
        wait = retry_after_seconds(resp.getheader("Retry-After")) if resp.status in (429, 503) else None
        raise Transient("http", message, retry_after=wait)
    raise Refused(message, code=resp.status)
