"""A server running its own asyncio loop in a background thread.

The simulated servers use it so that tests, the benchmark and the demo can
start and stop them from synchronous code, and so that the code they serve
may run event loops of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


class BackgroundServer:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    async def _listen(self) -> Callable[[], None]:
        """Open the listening sockets; return what closes them."""
        raise NotImplementedError

    def start(self):
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        if self._failure:
            raise self._failure
        return self

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call_later(self, delay: float, callback: Callable, *args: object) -> None:
        assert self._loop is not None
        self._loop.call_later(delay, callback, *args)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            close = await self._listen()
        except Exception as exc:
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        close()
