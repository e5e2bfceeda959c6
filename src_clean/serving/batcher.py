"""Server-side micro-batching: concurrent requests share one forward pass (or one
database transaction).

Requests put their items (texts, rows) on a queue; one worker task takes the first
waiting request, then everything already queued, then waits at most ``window_s`` for
more, until ``max_batch_size`` items, and runs the function once on the lot in its own
thread (never on the event loop). While a batch runs, the next one fills up, so under
load batches grow by themselves and the window is only paid when the queue is idle.
With ``enabled=False`` every request is a call of its own (the benchmark's baseline),
through the same thread.

Why not a library: the two maintained options are per-process batch servers (Ray Serve,
Triton) far heavier than this service; the loop below is the whole algorithm.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Request(Generic[T, R]):
    items: Sequence[T]
    future: asyncio.Future[tuple[list[R], int]] = field(repr=False)


class MicroBatcher(Generic[T, R]):
    """Runs ``run(items) -> results`` (one result per item) over merged requests."""

    def __init__(
        self,
        run: Callable[[list[T]], list[R]],
        *,
        max_batch_size: int = 32,
        window_s: float = 0.005,
        enabled: bool = True,
        on_batch: Callable[[int], None] | None = None,
        thread_name: str = "inference",
    ) -> None:
        self.run = run
        self.thread_name = thread_name
        self.max_batch_size = max_batch_size
        self.window_s = window_s
        self.enabled = enabled
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Request[T, R]] = asyncio.Queue()
        self._carry: _Request[T, R] | None = None
        self._getter: asyncio.Future[_Request[T, R]] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._loop(), name=f"{self.thread_name}-batcher")

    async def stop(self) -> None:
        """Stop the worker; requests still waiting fail with ``RuntimeError``."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        waiting = [self._carry] if self._carry else []
        if self._getter is not None:
            if self._getter.done() and not self._getter.cancelled():
                waiting.append(self._getter.result())
            self._getter.cancel()
            self._getter = None
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for request in waiting:
            if not request.future.done():
                request.future.set_exception(RuntimeError("service shutting down"))
        self._executor.shutdown(wait=True)

    async def submit(self, items: Sequence[T]) -> tuple[list[R], int]:
        """Results for ``items`` and the size of the batch they ran in."""
        if self._worker is None:
            raise RuntimeError("the batcher is not running")
        future: asyncio.Future[tuple[list[R], int]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(items, future))
        return await future

    async def _loop(self) -> None:
        while True:
            batch = await self._collect()
            await self._execute(batch)

    async def _next(self, timeout: float | None = None) -> _Request[T, R] | None:
        """The next queued request, or None after ``timeout`` seconds.

        The pending ``get`` survives a timeout (``asyncio.wait`` does not cancel it), so
        a request that arrives just as the window closes is never lost: it opens the
        next batch.
        """
        if self._getter is None:
            with contextlib.suppress(asyncio.QueueEmpty):
                return self._queue.get_nowait()
            self._getter = asyncio.ensure_future(self._queue.get())
        done, _ = await asyncio.wait({self._getter}, timeout=timeout)
        if not done:
            return None
        request, self._getter = self._getter.result(), None
        return request

    async def _collect(self) -> list[_Request[T, R]]:
        """The next batch: the first request, then more up to the size or the window."""
        first = self._carry or await self._next()
        self._carry = None
        assert first is not None
        batch, size = [first], len(first.items)
        if not self.enabled:
            return batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window_s
        while size < self.max_batch_size:
            request = await self._next(max(0.0, deadline - loop.time()))
            if request is None:
                break
            if size + len(request.items) > self.max_batch_size:
                self._carry = request  # opens the next batch
                break
            batch.append(request)
            size += len(request.items)
        return batch

    async def _execute(self, batch: list[_Request[T, R]]) -> None:
        items = [item for request in batch for item in request.items]
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self.run, items)
            if len(results) != len(items):
                raise RuntimeError(f"{len(results)} results for {len(items)} items")
        except Exception as exc:  # every waiting request gets the error, the loop goes on
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        if self.on_batch is not None:
            self.on_batch(len(items))
        start = 0
        for request in batch:
            end = start + len(request.items)
            if not request.future.done():  # a cancelled request (client gone) is skipped
                request.future.set_result((results[start:end], len(items)))
            start = end
