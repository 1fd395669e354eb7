"""Helpers for the dashboard's tests: its own process, its users, a signed-in HTTP client, and
Chromium (Debian's, driven by Playwright) with screenshots kept for CI.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Self

import httpx

from tests.support import free_port, wait_until, yquant_env
from yquant.processes import die_with_parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots of every page the browser tests open: CI keeps this folder.
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def add_users(data_dir: Path, *names: str, password: str = PASSWORD) -> None:
    """Users straight into the data directory's SQLite file (what `yquant users add` does,
    without a process per user), from a thread of its own (Playwright's sync API holds the
    caller's event loop)."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from yquant.adapters.db.store import SqlStore
    from yquant.bootstrap import build_users

    async def run() -> None:
        store = SqlStore(f"sqlite+aiosqlite:///{data_dir / 'yquant.sqlite3'}")
        try:
            users = build_users(store)
            for name in names:
                await users.add(name, password, actor="test", now=datetime.now(UTC))
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as other:
        other.submit(asyncio.run, run()).result()


class DashboardProcess:
    """`yquant dashboard` alone, on a free port, with its own data directory and the test's
    Valkey."""

    def __init__(
        self, data_dir: Path, valkey_url: str, host: str = "127.0.0.1", **extra: str
    ) -> None:
        self.port = free_port()
        reach = "127.0.0.1" if host == "0.0.0.0" else host  # bound to all: reached on loopback
        self.url = f"http://{reach}:{self.port}"
        self.data_dir = data_dir
        self.env = yquant_env(
            data_dir,
            valkey_url,
            YQUANT__DASHBOARD__HOST=host,
            YQUANT__DASHBOARD__PORT=str(self.port),
            **extra,
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "dashboard.log"

    def prepare(self, *users: str) -> DashboardProcess:
        """The schema (and ``users``, each with the test password), before the start."""
        from yquant.adapters.db import migrate

        self.data_dir.mkdir(parents=True, exist_ok=True)
        migrate.upgrade(f"sqlite+aiosqlite:///{self.data_dir / 'yquant.sqlite3'}")
        if users:
            add_users(self.data_dir, *users)
        return self

    def start(self) -> DashboardProcess:
        if self.proc is None:
            self.prepare()
        with self.log.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "yquant", "dashboard"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
            )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503)
            except httpx.HTTPError:
                return False

        wait_until(up, timeout_s=30, every_s=0.1)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


def login_token(page_html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page_html)
    assert found, page_html[:500]
    return found.group(1)


def signed_in(url: str, name: str, password: str = PASSWORD, **client: Any) -> httpx.Client:
    """An HTTP client signed in as ``name`` (as a browser does: the form, its token, the
    dashboard's own Origin); its ``csrf`` attribute holds the session's token."""
    http = httpx.Client(base_url=url, headers={"Accept": "text/html"}, **client)
    form = http.get("/login")
    reply = http.post(
        "/login",
        data={"csrf": login_token(form.text), "name": name, "password": password, "next": "/"},
        headers={"Origin": url},
    )
    assert reply.status_code == 303, reply.text
    http.csrf = csrf_of(http.get("/system").text)  # type: ignore[attr-defined]
    return http


class Clients:
    """HTTP clients a test makes, closed when it ends (`clients` fixture)."""

    def __init__(self) -> None:
        self._open: list[httpx.Client] = []

    def new(self, url: str, **options: Any) -> httpx.Client:
        client = httpx.Client(base_url=url, **options)
        self._open.append(client)
        return client

    def signed_in(self, url: str, name: str, password: str = PASSWORD) -> httpx.Client:
        client = signed_in(url, name, password)
        self._open.append(client)
        return client

    def close(self) -> None:
        for client in self._open:
            client.close()


def csrf_of(page_html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page_html)
    assert found, page_html[:800]
    return found.group(1)


def no_horizontal_scroll(page: Any) -> None:
    """The page is no wider than the window: tables scroll inside their cards."""
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window"


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


class Heartbeats:
    """The other roles of a worker, as a standalone dashboard sees them: their heartbeats in
    the worker's Valkey, renewed every second until stopped (the roles themselves do every
    5 s), so that its health is ready."""

    def __init__(self, valkey_url: str, roles: tuple[str, ...] = ("webhook", "engine", "gateway")):
        import threading

        self._url = valkey_url
        self._roles = roles
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._beat())

    async def _beat(self) -> None:
        from yquant.adapters.bus import Bus

        bus = Bus(self._url)
        try:
            while not self._stop.is_set():
                for role in self._roles:
                    await bus.heartbeat(role, {"pid": 0, "worker": "local"})
                await asyncio.sleep(1)
        finally:
            await bus.close()


def word(language: str, key: str, **values: Any) -> str:
    """A dashboard word (else a CLI message) in ``language``, filled with ``values``."""
    from yquant.entrypoints import i18n
    from yquant.entrypoints.dashboard.words import WORDS

    text = WORDS[language].get(key) or i18n.MESSAGES[language][key]
    return text.format(**values) if values else text
