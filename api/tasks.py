"""The API's long-running tasks, supervised: a task that crashes is logged, counted and
started again after a backoff; while it is down, ``/readyz`` says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Supervised:
    """One task, run again and again until stopped."""

    def __init__(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.name = name
        self._run = run
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self.crashes = 0
        """How many times the task ended with an error."""
        self.last_error: str | None = None
        """The last error, while the task is down."""
        self.down_since: float | None = time.time()
        """When the task went down (None while it runs); down until it first runs."""
        self._task: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        """Whether the task runs now."""
        return self.down_since is None

    def start(self) -> None:
        """Start supervising."""
        self._task = asyncio.create_task(self._supervise(), name=self.name)

    def running(self) -> None:
        """Called by the task once it is up (connected, say), so that readiness knows."""
        self.down_since = None
        self.last_error = None

    async def _supervise(self) -> None:
        backoff = self._backoff_s
        while True:
            started = time.monotonic()
            try:
                await self._run()
                self.last_error = "it returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any crash is logged, counted and restarted
                self.crashes += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.exception("task %s crashed (%d so far); restarting", self.name, self.crashes)
            self.down_since = self.down_since or time.time()
            if time.monotonic() - started > 60:
                backoff = self._backoff_s  # it ran a good while: start again promptly
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)

    async def stop(self) -> None:
        """Stop the task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Tasks:
    """The API's supervised tasks, by name."""

    def __init__(self) -> None:
        self.all: dict[str, Supervised] = {}

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> Supervised:
        """Supervise ``run`` as ``name``."""
        task = self.all[name] = Supervised(name, run)
        task.start()
        return task

    def problems(self) -> list[str]:
        """Why some task is not running (empty when all are)."""
        return [
            f"task {t.name} is down" + (f": {t.last_error}" if t.last_error else "")
            for t in self.all.values()
            if not t.up
        ]

    async def stop(self) -> None:
        """Stop them all."""
        for task in self.all.values():
            await task.stop()
