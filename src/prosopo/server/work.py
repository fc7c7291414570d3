"""Work off the event loop, a bounded number of jobs at a time, each under a
time limit that is told truthfully.

Jobs run on a pool of ``limit`` threads of their own, so at most ``limit``
run at once. A request whose job has not finished within ``timeout`` seconds
(waiting for a thread included) is answered 504; a job that had not started
is dropped, and one that had started runs on in its thread, which stays
busy until the job ends (Python cannot stop a thread). So a timeout never
lets more work run than the limit: later requests wait, and time out in turn
if the pool stays busy.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .problems import Problem

T = TypeVar("T")


class WorkLimiter:
    """Runs blocking functions for async code: at most ``limit`` at once."""

    def __init__(self, limit: int, timeout: float):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit, self.timeout = limit, timeout
        self._pool = ThreadPoolExecutor(limit, thread_name_prefix="prosopo-work")
        self._lock = threading.Lock()
        self._running = 0
        self._peak = 0

    def counts(self) -> dict[str, int]:
        """Jobs running now, the most that ever ran at once, and the limit."""
        with self._lock:
            return {"running": self._running, "peak": self._peak, "limit": self.limit}

    def _job(self, fn: Callable[..., T], args: tuple, kwargs: dict[str, Any]) -> T:
        with self._lock:
            self._running += 1
            self._peak = max(self._peak, self._running)
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self._running -= 1

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the pool; 504 problem after ``timeout``."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, self._job, fn, args, kwargs)
        future = loop.run_in_executor(self._pool, call)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            future.cancel()  # drops a job that has not started; a started one runs on in its thread
            raise Problem(504, "timeout", f"the request took more than {self.timeout:g} s") from None
        except asyncio.CancelledError:
            future.cancel()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
