"""The execution-quality page of a real `yquant dashboard`: the percentiles of the recorded
path per group, with a bar per percentile, in English and Korean; the period picker."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard_support import Clients, DashboardProcess
from tests.integration.entrypoints.test_reports_cli import record_path
from tests.support import ValkeyProcess

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def clients() -> Iterator[Clients]:
    made = Clients()
    yield made
    made.close()


@pytest.fixture
def dashboard(tmp_path: Path, valkey: ValkeyProcess) -> Iterator[DashboardProcess]:
    d = DashboardProcess(tmp_path / "data", valkey.url)
    d.prepare("alice")
    url = f"sqlite+aiosqlite:///{d.data_dir / 'yquant.sqlite3'}"
    asyncio.run(record_path(url, tmp_path / "journal.sqlite3"))
    d.start()
    try:
        yield d
    finally:
        d.stop()


def cells(html: str, key: str, measure: str) -> list[str]:
    """The p50, p95 and p99 texts of one row of one group's table."""
    section = html.split(f'data-key="{key}"', 1)[1].split("</section>", 1)[0]
    row = section.split(f'data-measure="{measure}"', 1)[1].split("</tr>", 1)[0]
    return re.findall(r'<span class="bar-value">([^<]+)</span>', row)


def test_the_page_shows_each_groups_percentiles_with_bars(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    http = clients.signed_in(dashboard.url, "alice")
    page = http.get("/performance/execution", params={"from": "2026-12-01", "to": "2026-12-01"})
    assert page.status_code == 200
    html = page.text
    assert "Execution quality" in html
    assert cells(html, "alpha|KR|paper", "hop_received_decided") == [
        "0.030 s",
        "0.808 s",
        "0.962 s",
    ]
    assert cells(html, "alpha|KR|paper", "exec_slippage") == ["28.17 bp", "53.52 bp", "55.78 bp"]
    assert cells(html, "beta|KR|paper", "hop_first_last_fill") == ["3.000 s", "3.000 s", "3.000 s"]
    assert 'data-key="*|*|*"' in html
    # the bars: each percentile's share of the group's longest p99 (received -> first fill)
    assert '<meter min="0" max="100" value="100"></meter>' in html
    assert 'href="/performance"' in html
    assert 'href="/performance/execution"' in http.get("/performance").text  # linked from there

    korean = http.get(
        "/performance/execution", params={"from": "2026-12-01", "to": "2026-12-01", "lang": "ko"}
    ).text
    assert "체결 품질" in korean
    assert "수신 → 결정" in korean

    other = http.get("/performance/execution", params={"from": "2026-12-02", "to": "2026-12-02"})
    assert 'id="exec-none"' in other.text

    only_beta = http.get(
        "/performance/execution",
        params={"from": "2026-12-01", "to": "2026-12-01", "strategy": "beta"},
    ).text
    assert 'data-key="beta|KR|paper"' in only_beta
    assert 'data-key="alpha|KR|paper"' not in only_beta
