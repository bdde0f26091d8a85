"""The exception tree: one class per core error kind, all under :class:`TailraceError`.

Builtins are mixed in where Python code already reaches for them: :class:`Timeout` is also a
``TimeoutError``, :class:`ConnectError` a ``ConnectionError``, and :class:`InvalidOption` and
:class:`InvalidRequest` are ``ValueError``. ``python/src/errors.rs`` is the only place that maps a
core ``ErrorKind`` to one of these classes. Every kind of DESIGN.md's table has a class of its name
(``Connect`` and ``Tls`` are aliases of :class:`ConnectError` and :class:`TLSError`).
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional

__all__ = [
    "TailraceError",
    "InvalidOption",
    "InvalidRequest",
    "ConnectError",
    "TLSError",
    "Timeout",
    "ProtocolError",
    "ResponseTooLarge",
    "LimitQueueFull",
    "LimitTimeout",
    "AllAttemptsFailed",
    "HTTPStatusError",
    "Cancelled",
    "ClientClosed",
    "Internal",
    "AttemptFailure",
    # DESIGN.md's kind names, for the two classes whose Python names differ.
    "Connect",
    "Tls",
]


class TailraceError(Exception):
    """Root of every error tailrace raises.

    Attributes (set on every instance tailrace raises):
        kind: the core error kind in snake_case (``"limit_queue_full"``, ``"timeout"``, ...);
            the same names appear as keys of ``stats()["errors"]``.
        sent: whether the backend may have seen the request: ``"no"`` (a retry cannot
            duplicate work), ``"maybe"`` or ``"yes"``.
    """

    kind: str = "internal"
    sent: str = "maybe"

    def __init__(self, message: str = "", *, kind: Optional[str] = None, sent: Optional[str] = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        if sent is not None:
            self.sent = sent

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidOption(TailraceError, ValueError):
    """An unknown client option, or a bad option value; the message names the option."""

    kind = "invalid_option"
    sent = "no"


class InvalidRequest(TailraceError, ValueError):
    """A bad URL, method, header or request field; nothing was sent."""

    kind = "invalid_request"
    sent = "no"


class ConnectError(TailraceError, ConnectionError):
    """The TCP connection could not be made (refused, unreachable, DNS); nothing was sent."""

    kind = "connect"
    sent = "no"


class TLSError(TailraceError):
    """The TLS handshake or certificate verification failed; nothing was sent."""

    kind = "tls"
    sent = "no"


class Timeout(TailraceError, TimeoutError):
    """A deadline passed. ``which`` says which one: ``"connect"``, ``"attempt"`` or ``"call"``."""

    kind = "timeout"
    which: Optional[str] = None


class ProtocolError(TailraceError):
    """The connection broke after it was made: closed mid-response, malformed answer, reset."""

    kind = "protocol"


class ResponseTooLarge(TailraceError):
    """The response body is larger than ``max_response_bytes``."""

    kind = "response_too_large"
    sent = "yes"


class LimitQueueFull(TailraceError):
    """The limiter's queue for this limit key is full; rejected at once, nothing was sent."""

    kind = "limit_queue_full"
    sent = "no"


class LimitTimeout(TailraceError):
    """The call waited for a limiter slot longer than ``queue_timeout_ms``; nothing was sent."""

    kind = "limit_timeout"
    sent = "no"


class AttemptFailure(NamedTuple):
    """One failed attempt of a call: its index (0 = first), the host it went to, and why."""

    attempt: int
    host: str
    cause: TailraceError


class AllAttemptsFailed(TailraceError):
    """Every attempt of the call failed; ``attempts`` lists each one's host and cause."""

    kind = "all_attempts_failed"
    attempts: List[AttemptFailure]

    def __init__(self, message: str = "", *, kind: Optional[str] = None, sent: Optional[str] = None) -> None:
        super().__init__(message, kind=kind, sent=sent)
        self.attempts = []


class HTTPStatusError(TailraceError):
    """An answer whose status is in ``retry_on_status`` (a failed attempt); ``status`` has it."""

    kind = "http_status"
    sent = "yes"
    status: Optional[int] = None


class Cancelled(TailraceError):
    """The call was cancelled (by an interrupted wait or an abort) before it completed."""

    kind = "cancelled"


class ClientClosed(TailraceError):
    """The client was closed: the call was refused, or was pending when ``close()`` ran."""

    kind = "client_closed"


class Internal(TailraceError):
    """A bug in tailrace (a caught panic, say); the message says so. Please report it."""

    kind = "internal"


# DESIGN.md names these kinds `Connect` and `Tls`; the Python names follow the builtins' style.
Connect = ConnectError
Tls = TLSError
