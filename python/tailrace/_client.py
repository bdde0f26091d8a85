"""Client and AsyncClient: the HTTP-verb helpers and async methods over the native classes.

Everything that touches the core lives in the extension (``python/src/client.rs``); this file
only spells the methods out so they have real signatures. Docstrings and types: ``__init__.pyi``.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Union

from . import _native
from ._native import Request, Response


class Client(_native.Client):
    def get(self, url: str, *, headers: Any = None, order_key: Optional[str] = None, flush: bool = False,
            limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
            timeout_ms: Optional[int] = None) -> Response:
        return self.request("GET", url, headers=headers, order_key=order_key, flush=flush,
                            limit_key=limit_key, idempotent=idempotent, timeout_ms=timeout_ms)

    def head(self, url: str, *, headers: Any = None, order_key: Optional[str] = None, flush: bool = False,
             limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
             timeout_ms: Optional[int] = None) -> Response:
        return self.request("HEAD", url, headers=headers, order_key=order_key, flush=flush,
                            limit_key=limit_key, idempotent=idempotent, timeout_ms=timeout_ms)

    def options(self, url: str, *, headers: Any = None, order_key: Optional[str] = None, flush: bool = False,
                limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                timeout_ms: Optional[int] = None) -> Response:
        return self.request("OPTIONS", url, headers=headers, order_key=order_key, flush=flush,
                            limit_key=limit_key, idempotent=idempotent, timeout_ms=timeout_ms)

    def delete(self, url: str, *, headers: Any = None, order_key: Optional[str] = None, flush: bool = False,
               limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
               timeout_ms: Optional[int] = None) -> Response:
        return self.request("DELETE", url, headers=headers, order_key=order_key, flush=flush,
                            limit_key=limit_key, idempotent=idempotent, timeout_ms=timeout_ms)

    def post(self, url: str, *, headers: Any = None, content: Any = None, order_key: Optional[str] = None,
             flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
             timeout_ms: Optional[int] = None) -> Response:
        return self.request("POST", url, headers=headers, content=content, order_key=order_key, flush=flush,
                            limit_key=limit_key, idempotent=idempotent, timeout_ms=timeout_ms)

    def put(self, url: str, *, headers: Any = None, content: Any = None, order_key: Optional[str] = None,
            flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
            timeout_ms: Optional[int] = None) -> Response:
        return self.request("PUT", url, headers=headers, content=content, order_key=order_key, flush=flush,
                            limit_key=limit_key, idempotent=idempotent, timeout_ms=timeout_ms)

    def patch(self, url: str, *, headers: Any = None, content: Any = None, order_key: Optional[str] = None,
              flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
              timeout_ms: Optional[int] = None) -> Response:
        return self.request("PATCH", url, headers=headers, content=content, order_key=order_key, flush=flush,
                            limit_key=limit_key, idempotent=idempotent, timeout_ms=timeout_ms)

    def __repr__(self) -> str:
        return f"<tailrace.Client{' closed' if self.closed else ''}>"


class AsyncClient(_native.AsyncClient):
    # Each method submits when its coroutine first runs (asyncio.gather and create_task start
    # coroutines in the order they were given); `submit` submits on the line that calls it.

    async def request(self, method: str, url: str, *, headers: Any = None, content: Any = None,
                      order_key: Optional[str] = None, flush: bool = False, limit_key: Optional[str] = None,
                      idempotent: Optional[bool] = None, timeout_ms: Optional[int] = None) -> Response:
        return await self._start(method, url, headers, content, order_key, flush, limit_key, idempotent,
                                 timeout_ms)

    async def get(self, url: str, *, headers: Any = None, order_key: Optional[str] = None, flush: bool = False,
                  limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                  timeout_ms: Optional[int] = None) -> Response:
        return await self._start("GET", url, headers, None, order_key, flush, limit_key, idempotent, timeout_ms)

    async def head(self, url: str, *, headers: Any = None, order_key: Optional[str] = None, flush: bool = False,
                   limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                   timeout_ms: Optional[int] = None) -> Response:
        return await self._start("HEAD", url, headers, None, order_key, flush, limit_key, idempotent, timeout_ms)

    async def options(self, url: str, *, headers: Any = None, order_key: Optional[str] = None,
                      flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                      timeout_ms: Optional[int] = None) -> Response:
        return await self._start("OPTIONS", url, headers, None, order_key, flush, limit_key, idempotent,
                                 timeout_ms)

    async def delete(self, url: str, *, headers: Any = None, order_key: Optional[str] = None,
                     flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                     timeout_ms: Optional[int] = None) -> Response:
        return await self._start("DELETE", url, headers, None, order_key, flush, limit_key, idempotent,
                                 timeout_ms)

    async def post(self, url: str, *, headers: Any = None, content: Any = None, order_key: Optional[str] = None,
                   flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                   timeout_ms: Optional[int] = None) -> Response:
        return await self._start("POST", url, headers, content, order_key, flush, limit_key, idempotent,
                                 timeout_ms)

    async def put(self, url: str, *, headers: Any = None, content: Any = None, order_key: Optional[str] = None,
                  flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                  timeout_ms: Optional[int] = None) -> Response:
        return await self._start("PUT", url, headers, content, order_key, flush, limit_key, idempotent,
                                 timeout_ms)

    async def patch(self, url: str, *, headers: Any = None, content: Any = None, order_key: Optional[str] = None,
                    flush: bool = False, limit_key: Optional[str] = None, idempotent: Optional[bool] = None,
                    timeout_ms: Optional[int] = None) -> Response:
        return await self._start("PATCH", url, headers, content, order_key, flush, limit_key, idempotent,
                                 timeout_ms)

    async def send(self, request: Request) -> Response:
        return await self.submit(request)

    async def send_many(self, requests: Iterable[Request]) -> List[Union[Response, BaseException]]:
        return await self._send_many(requests)  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<tailrace.AsyncClient{' closed' if self.closed else ''}>"


# help() and IDEs without the stubs: the classes' own docs, and one line per verb helper (the full
# documentation is in __init__.pyi).
Client.__doc__ = (
    "A synchronous client; share one between threads (every wait releases the GIL). Options are "
    "keyword arguments with the names every language shares; use as a context manager or call close()."
)
AsyncClient.__doc__ = (
    "The asyncio client: the same options and calls as Client, awaited. Cancelling the awaiting "
    "task cancels the call inside the runtime."
)
AsyncClient.request.__doc__ = "Make one call and return its answer (awaited)."
AsyncClient.send.__doc__ = "Send a Request made ahead of time (awaited)."
AsyncClient.send_many.__doc__ = (
    "Submit every request in iteration order and await them all: a list, in the same order, of "
    "each call's Response or the exception it ended with."
)
AsyncClient.aclose.__doc__ = "Close the client: calls still pending end with ClientClosed."
for _cls, _how in ((Client, "waited for"), (AsyncClient, "awaited")):
    for _verb in ("get", "head", "options", "delete", "post", "put", "patch"):
        getattr(_cls, _verb).__doc__ = (
            f'A {_verb.upper()} call, {_how}: request("{_verb.upper()}", url, ...).'
        )
del _cls, _how, _verb
