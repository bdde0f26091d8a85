"""tailrace: outbound HTTP calls that are fast at the tail and safe for the backends they hit.

- Hedged calls: an idempotent call is sent up to ``concurrent_calls`` times across ``hosts``; the
  first success wins and the other attempts are cancelled at once.
- Limits: at most ``max_count`` attempts in flight per limit key (a hedge takes a slot too), ``max_queue`` more waiting FIFO for
  at most ``queue_timeout_ms``; the rest fail at once with :class:`LimitQueueFull`.
- Ordering: calls with the same ``order_key`` run one at a time in submission order; a ``flush``
  call starts only after every earlier call has completed; everything else runs concurrently.

Runtime: every client in the process shares one background tokio runtime, started on first use
(``TAILRACE_WORKER_THREADS`` sets its thread count; default: the number of cores minus one, at
least one, leaving a core to the interpreter's threads). It belongs to
this extension: a process that also loads the C library ``libtailrace.so`` has a second one. Calls
are tasks on that runtime, never a thread each; a blocking call releases the GIL while it waits and
checks for signals every 50 ms, so Ctrl-C interrupts it (and cancels the call).

Fork: after ``os.fork()`` (e.g. multiprocessing's fork start method) the child builds a fresh
runtime and fresh connection pools on first use; clients created before the fork keep working there.

Errors: every exception is a :class:`TailraceError`; each has ``kind`` (the core error kind, as in
``stats()["errors"]``) and ``sent`` (``"no"``: the backend saw nothing, a retry is safe).
"""

import asyncio
import sys
from os import PathLike
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Tuple, Union

if sys.version_info >= (3, 11):
    from typing import TypedDict, Unpack
else:
    from typing_extensions import TypedDict, Unpack

from . import errors as errors
from .errors import AllAttemptsFailed as AllAttemptsFailed
from .errors import AttemptFailure as AttemptFailure
from .errors import Cancelled as Cancelled
from .errors import ClientClosed as ClientClosed
from .errors import Connect as Connect
from .errors import ConnectError as ConnectError
from .errors import HTTPStatusError as HTTPStatusError
from .errors import Internal as Internal
from .errors import InvalidOption as InvalidOption
from .errors import InvalidRequest as InvalidRequest
from .errors import LimitQueueFull as LimitQueueFull
from .errors import LimitTimeout as LimitTimeout
from .errors import ProtocolError as ProtocolError
from .errors import ResponseTooLarge as ResponseTooLarge
from .errors import TailraceError as TailraceError
from .errors import Timeout as Timeout
from .errors import Tls as Tls
from .errors import TLSError as TLSError

__version__: str

Headers = Union[Mapping[str, str], Sequence[Tuple[str, str]]]
"""Request headers: a dict of str to str, or (name, value) pairs (repeated names are all sent)."""

Content = Union[bytes, bytearray, str]
"""A request body; str is sent as UTF-8. Buffered once and replayed by every hedge attempt."""

class Options(TypedDict, total=False):
    """Client options: the same names as the Rust builder, C's ``tailrace_config_set`` and Go.

    ``None`` keeps the default. Values are checked when the client is built: an unknown name or a
    bad value raises :class:`InvalidOption` (a ``ValueError``) naming it; a value of the wrong
    Python type raises ``TypeError``. A ``str`` is accepted for every option (the string form C uses).
    """

    hosts: Union[Sequence[str], str, None]
    """Base URLs a relative path is sent to, e.g. ``["http://10.0.0.1:8080"]``. Default: none
    (full URLs only)."""
    balance: Optional[str]
    """How a host is chosen for each attempt: ``"round_robin"`` (default), ``"random"``, ``"p2c"``."""
    concurrent_calls: Optional[int]
    """Attempts per call at most, 1 to 10. Default 1 (no hedging)."""
    hedge_delay_ms: Optional[float]
    """Delay before the next attempt, in ms (fractions allowed). Default 0: all attempts at once."""
    hedge_percentile: Optional[float]
    """Adapt the hedge delay to this percentile of recent latency, e.g. 95. Default 0 (off)."""
    hedge_max_extra_load: Union[float, Literal[""], None]
    """Extra attempts ÷ calls allowed over a sliding window, e.g. 0.05. A floor of 3 hedges a second
    always applies (``concurrent_calls=1`` for none). Default 1 (one extra attempt per call);
    ``None`` keeps the default; ``""`` means no budget (KrakenD: every call gets every copy)."""
    retry_on_status: Union[Sequence[Union[int, str]], str, None]
    """Statuses that count as a failed attempt: codes and classes, e.g. ``[502, 503]`` or ``"5xx"``
    (default). 4xx is an answer, not a failure."""
    attempt_header: Optional[bool]
    """When hedging (``concurrent_calls`` > 1), send ``x-tailrace-attempt: i`` with each attempt. Default True."""
    eject_after: Optional[int]
    """Eject a host after this many consecutive failed attempts (0 = never). Default 5."""
    eject_ms: Optional[int]
    """How long an ejected host is left out, in ms. Default 10000."""
    max_count: Optional[int]
    """Attempts in flight per limit key at most (a call's first attempt and each hedge take a
    slot). Default 0 (unlimited)."""
    max_queue: Optional[int]
    """Calls waiting for a slot per limit key at most (0 = reject at once). Default: unlimited.
    Needs ``max_count``."""
    queue_timeout_ms: Optional[int]
    """How long a call may wait for a limiter slot, in ms. Default 0 (only ``timeout_ms``)."""
    timeout_ms: Optional[int]
    """Deadline for the whole call, waits included, in ms (0 = none). Default 30000."""
    attempt_timeout_ms: Optional[int]
    """Deadline for one attempt, in ms (0 = none). Default 0."""
    connect_timeout_ms: Optional[int]
    """Deadline for TCP connect plus TLS handshake, in ms (0 = none). Default 5000."""
    max_response_bytes: Optional[int]
    """Larger bodies fail with :class:`ResponseTooLarge` while they stream. Default 64 MiB."""
    ca_file: Union[str, "PathLike[str]", None]
    """PEM file of CA certificates trusted in addition to the system's. Default: none."""
    http2: Optional[str]
    """``"auto"`` (default: HTTP/2 when TLS ALPN agrees) or ``"never"``."""
    http2_prior_knowledge: Optional[bool]
    """Speak HTTP/2 without negotiation, also over plain TCP (h2c). Default False."""
    pool_max_idle_per_host: Optional[int]
    """Idle keep-alive connections kept per host at most. Default 1024."""
    pool_idle_timeout_ms: Optional[int]
    """Close keep-alive connections idle for longer than this, in ms (0 = never). Default 90000."""

class Request:
    """A call described ahead of time, for :meth:`Client.send_many` and :meth:`AsyncClient.submit`.

    Per-call fields:
        order_key: calls with the same key run one at a time, in submission order.
        flush: start only after every earlier call of this client has completed.
        limit_key: the limiter key this call counts against (None: the client-wide key).
        idempotent: may this call be hedged? None: by method (GET, HEAD, OPTIONS, PUT, DELETE are).
        timeout_ms: deadline for this call, overriding the client's ``timeout_ms``.

    The method is upper-cased (``"get"`` is ``GET``). Argument types are checked here
    (``TypeError``), header values too (:class:`InvalidRequest`), and so is text that cannot be
    sent at all (a lone surrogate, as ``os.environ`` or a file name may hold: :class:`InvalidRequest`
    naming the field); the URL and method are otherwise checked when the request is sent.
    """

    def __init__(
        self,
        method: str,
        url: str,
        *,
        headers: Optional[Headers] = None,
        content: Optional[Content] = None,
        order_key: Optional[str] = None,
        flush: bool = False,
        limit_key: Optional[str] = None,
        idempotent: Optional[bool] = None,
        timeout_ms: Optional[int] = None,
    ) -> None: ...
    @property
    def method(self) -> str:
        """The method as given, upper-cased (also one that sending will refuse)."""
    @property
    def url(self) -> str: ...
    @property
    def order_key(self) -> Optional[str]: ...
    @property
    def flush(self) -> bool: ...
    @property
    def limit_key(self) -> Optional[str]: ...
    @property
    def idempotent(self) -> Optional[bool]: ...
    @property
    def timeout_ms(self) -> Optional[int]: ...

class Response:
    """A complete answer (the whole body has been read) and where it came from."""

    @property
    def status(self) -> int:
        """The HTTP status code."""
    @property
    def ok(self) -> bool:
        """True for a status below 400."""
    @property
    def headers(self) -> Dict[str, str]:
        """Response headers: lowercase names; repeated headers joined with ``", "``."""
    @property
    def content(self) -> bytes:
        """The body."""
    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
    def json(self) -> Any:
        """The body parsed as JSON."""
    @property
    def host(self) -> str:
        """Base URL of the host that answered."""
    @property
    def attempts(self) -> int:
        """Attempts sent for this call (1 without hedging)."""
    @property
    def winner(self) -> int:
        """Index of the attempt whose answer this is (0 = the first, 1 = the first hedge, ...)."""
    @property
    def elapsed(self) -> float:
        """Seconds from submitting the call to the last byte of this answer, waits included."""
    @property
    def http_version(self) -> str:
        """``"HTTP/1.1"`` or ``"HTTP/2"``."""

Result = Union[Response, TailraceError]
"""One entry of ``send_many``'s list: the response, or the exception the call ended with."""

class Client:
    """A synchronous client; share one between threads (every wait releases the GIL).

    ``url`` arguments are full URLs or paths joined to one of ``hosts``. A call raises a
    :class:`TailraceError` subclass when it fails; an answer with any status is a ``Response``
    (unless hedging classed it a failed attempt, see ``retry_on_status``). Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, **options: Unpack[Options]) -> None: ...
    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Optional[Headers] = None,
        content: Optional[Content] = None,
        order_key: Optional[str] = None,
        flush: bool = False,
        limit_key: Optional[str] = None,
        idempotent: Optional[bool] = None,
        timeout_ms: Optional[int] = None,
    ) -> Response:
        """Make one call and wait for its answer. Per-call fields: see :class:`Request`."""
    def get(self, url: str, *, headers: Optional[Headers] = None, order_key: Optional[str] = None,
            flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
            timeout_ms: Optional[int] = None) -> Response: ...
    def head(self, url: str, *, headers: Optional[Headers] = None, order_key: Optional[str] = None,
             flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
             timeout_ms: Optional[int] = None) -> Response: ...
    def options(self, url: str, *, headers: Optional[Headers] = None, order_key: Optional[str] = None,
                flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                timeout_ms: Optional[int] = None) -> Response: ...
    def delete(self, url: str, *, headers: Optional[Headers] = None, order_key: Optional[str] = None,
               flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
               timeout_ms: Optional[int] = None) -> Response: ...
    def post(self, url: str, *, headers: Optional[Headers] = None, content: Optional[Content] = None,
             order_key: Optional[str] = None, flush: bool = False, limit_key: Optional[str] = None,
             idempotent: Optional[bool] = None, timeout_ms: Optional[int] = None) -> Response: ...
    def put(self, url: str, *, headers: Optional[Headers] = None, content: Optional[Content] = None,
            order_key: Optional[str] = None, flush: bool = False, limit_key: Optional[str] = None,
            idempotent: Optional[bool] = None, timeout_ms: Optional[int] = None) -> Response: ...
    def patch(self, url: str, *, headers: Optional[Headers] = None, content: Optional[Content] = None,
              order_key: Optional[str] = None, flush: bool = False, limit_key: Optional[str] = None,
              idempotent: Optional[bool] = None, timeout_ms: Optional[int] = None) -> Response: ...
    def send(self, request: Request) -> Response:
        """Send a prepared :class:`Request` and wait for its answer."""
    def send_many(self, requests: Iterable[Request]) -> List[Result]:
        """Submit every request in list order (so order keys follow the list), run them all at once
        on the runtime with the GIL released, and return a response or an exception instance for
        each, in list order. Takes any iterable (a list, a generator, ...), read to its end before
        anything is submitted. Nothing is raised for a failed call; a wrong item type raises
        ``TypeError`` before anything is sent."""
    def stats(self) -> Dict[str, Any]:
        """A snapshot of this client's numbers; the same keys as the stats JSON of every language
        (``calls``, ``attempts``, ``hedges_sent``, ``errors``, ``latency_us``, ``hosts``, ...)."""
    def close(self) -> None:
        """Close the client: pending calls end with :class:`ClientClosed`, new calls are refused
        with it. Idempotent."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> "Client": ...
    def __exit__(self, *exc: object) -> bool: ...

class AsyncClient:
    """The asyncio client: the same options and calls as :class:`Client`, awaited.

    The coroutine methods submit their call when they first run (``asyncio.gather`` and
    ``create_task`` start them in the order given); :meth:`submit` submits on the line that calls
    it. Cancelling the awaiting task cancels the call inside the runtime: its limiter slot and its
    turn in its order key are released at once. So does closing the event loop while calls
    submitted from it are still pending, e.g. a :meth:`submit` future nobody awaited (or dropping
    an asyncio loop unclosed; uvloop never frees an unclosed loop, so close it). Any event loop
    that supports ``add_reader`` works (the default loop on Unix, and uvloop: both are tested);
    one client may serve several loops.
    """

    def __init__(self, **options: Unpack[Options]) -> None: ...
    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Optional[Headers] = None,
        content: Optional[Content] = None,
        order_key: Optional[str] = None,
        flush: bool = False,
        limit_key: Optional[str] = None,
        idempotent: Optional[bool] = None,
        timeout_ms: Optional[int] = None,
    ) -> Response: ...
    async def get(self, url: str, *, headers: Optional[Headers] = None, order_key: Optional[str] = None,
                  flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                  timeout_ms: Optional[int] = None) -> Response: ...
    async def head(self, url: str, *, headers: Optional[Headers] = None, order_key: Optional[str] = None,
                   flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                   timeout_ms: Optional[int] = None) -> Response: ...
    async def options(self, url: str, *, headers: Optional[Headers] = None, order_key: Optional[str] = None,
                      flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                      timeout_ms: Optional[int] = None) -> Response: ...
    async def delete(self, url: str, *, headers: Optional[Headers] = None, order_key: Optional[str] = None,
                     flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                     timeout_ms: Optional[int] = None) -> Response: ...
    async def post(self, url: str, *, headers: Optional[Headers] = None, content: Optional[Content] = None,
                   order_key: Optional[str] = None, flush: bool = False, limit_key: Optional[str] = None,
                   idempotent: Optional[bool] = None, timeout_ms: Optional[int] = None) -> Response: ...
    async def put(self, url: str, *, headers: Optional[Headers] = None, content: Optional[Content] = None,
                  order_key: Optional[str] = None, flush: bool = False, limit_key: Optional[str] = None,
                  idempotent: Optional[bool] = None, timeout_ms: Optional[int] = None) -> Response: ...
    async def patch(self, url: str, *, headers: Optional[Headers] = None, content: Optional[Content] = None,
                    order_key: Optional[str] = None, flush: bool = False, limit_key: Optional[str] = None,
                    idempotent: Optional[bool] = None, timeout_ms: Optional[int] = None) -> Response: ...
    def submit(self, request: Request) -> "asyncio.Future[Response]":
        """Submit now, on this line, and return a future of the response; cancelling the future
        cancels the call. Must be called with an event loop running."""
    async def send(self, request: Request) -> Response: ...
    async def send_many(self, requests: Iterable[Request]) -> List[Result]:
        """As :meth:`Client.send_many`, awaited: results in list order, exceptions as values."""
    def stats(self) -> Dict[str, Any]: ...
    def close(self) -> None: ...
    async def aclose(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    async def __aenter__(self) -> "AsyncClient": ...
    async def __aexit__(self, *exc: object) -> None: ...

__all__ = [
    "__version__",
    "Client",
    "AsyncClient",
    "Request",
    "Response",
    "Headers",
    "Content",
    "Result",
]
# The exception tree, as errors.py lists it (one list, not a copy to keep in step).
__all__ += errors.__all__
