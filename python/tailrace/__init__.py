"""tailrace: outbound HTTP calls that are fast at the tail and safe for the backends they hit.

Hedged calls across hosts, per-key concurrency limits with bounded FIFO queues, and keyed
ordering with flush barriers, on one background runtime shared by every client in the process.
Documentation for every class and keyword is in ``__init__.pyi`` (what editors show).
"""

from typing import Mapping, Sequence, Tuple, Union

from ._native import Request, Response, __version__
from ._client import AsyncClient, Client
from . import errors
from .errors import (
    AllAttemptsFailed,
    AttemptFailure,
    Cancelled,
    ClientClosed,
    Connect,
    ConnectError,
    HTTPStatusError,
    Internal,
    InvalidOption,
    InvalidRequest,
    LimitQueueFull,
    LimitTimeout,
    ProtocolError,
    ResponseTooLarge,
    TailraceError,
    Timeout,
    Tls,
    TLSError,
)

Headers = Union[Mapping[str, str], Sequence[Tuple[str, str]]]
Content = Union[bytes, bytearray, str]
Result = Union[Response, TailraceError]

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
