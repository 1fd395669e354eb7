"""A uvicorn server on loopback in a daemon thread: how the local fakes of outside services
(the KIS simulator, fake Discord and Telegram) run inside tests and benchmarks."""

from __future__ import annotations

import threading
import time
from typing import Self

import uvicorn


class ThreadedServer:
    """``config`` served on ``127.0.0.1:port`` in a daemon thread named ``name``."""

    def __init__(self, config: uvicorn.Config, port: int, name: str) -> None:
        self.port = port
        self._name = name
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Self:
        self._thread = threading.Thread(target=self._server.run, name=self._name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self._name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
