"""The performance report as people and programs read it: its words in English and Korean,
the metrics as shown, the JSON, and the daily returns as CSV in the shape QuantStats reads
(``pd.read_csv(path, index_col="date", parse_dates=True)["returns"]``).
Shared by `yquant report` and the dashboard's /performance page."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

from yquant import views
from yquant.domain.performance import Metrics
from yquant.services.reports import Report

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "performance": "Performance",
        "account": "Account",
        "all_accounts": "all accounts",
        "strategy": "Strategy",
        "period": "Period",
        "metric": "Metric",
        "value": "Value",
        "cumulative_return": "Cumulative return",
        "cagr": "CAGR",
        "volatility": "Volatility (annual)",
        "sharpe": "Sharpe",
        "sortino": "Sortino",
        "max_drawdown": "Max drawdown",
        "max_drawdown_days": "Longest drawdown",
        "exposure": "Exposure",
        "trades": "Trades (round trips)",
        "win_rate": "Win rate",
        "profit_factor": "Profit factor",
        "avg_win": "Average win",
        "avg_loss": "Average loss",
        "days": "Days",
        "flows": "Deposits − withdrawals",
        "days_unit": "{n} d",
        "strategies": "Strategies",
        "no_snapshots": (
            "no daily snapshots in this period yet: the active worker takes one after each "
            "market's close (or run `yquant snapshot`)"
        ),
        "no_database": "reports are read from the database, which is unavailable ({reason})",
        "equity": "Equity (KRW)",
        "drawdown": "Drawdown",
        "csv": "Daily returns (CSV)",
        "show": "Show",
        "from": "From",
        "to": "To",
        "p_1m": "1 month",
        "p_3m": "3 months",
        "p_ytd": "This year",
        "p_1y": "1 year",
        "p_all": "All",
        "twr_note": "Time-weighted: deposits and withdrawals are not counted as performance.",
        "latest": "Latest snapshots",
        "equity_ccy": "Equity",
        "day": "Day",
        "currency": "Currency",
        "fx": "FX (KRW)",
        "taken_from": "From",
        "src_broker": "broker",
        "src_backfill": "back-filled",
        "fx_base": "base",
        "fx_kis": "KIS",
        "fx_config": "settings",
        "fx_previous": "previous day's",
        "base_note": "Returns in KRW, at each snapshot's FX rate.",
    },
    "ko": {
        "performance": "성과",
        "account": "계좌",
        "all_accounts": "전체 계좌",
        "strategy": "전략",
        "period": "기간",
        "metric": "지표",
        "value": "값",
        "cumulative_return": "누적 수익률",
        "cagr": "연복리 수익률 (CAGR)",
        "volatility": "변동성 (연율)",
        "sharpe": "샤프 지수",
        "sortino": "소르티노 지수",
        "max_drawdown": "최대 낙폭 (MDD)",
        "max_drawdown_days": "최장 낙폭 기간",
        "exposure": "보유 비중 (일수)",
        "trades": "거래 수 (왕복)",
        "win_rate": "승률",
        "profit_factor": "손익비 (Profit factor)",
        "avg_win": "평균 수익",
        "avg_loss": "평균 손실",
        "days": "일수",
        "flows": "입금 − 출금",
        "days_unit": "{n}일",
        "strategies": "전략별",
        "no_snapshots": (
            "이 기간의 일별 스냅샷이 아직 없습니다: 활성 워커가 각 시장 마감 후 기록합니다 "
            "(또는 `yquant snapshot` 실행)"
        ),
        "no_database": "보고서는 데이터베이스에서 읽는데, 연결할 수 없습니다 ({reason})",
        "equity": "평가금액 (원)",
        "drawdown": "낙폭",
        "csv": "일별 수익률 (CSV)",
        "show": "보기",
        "from": "시작",
        "to": "끝",
        "p_1m": "1개월",
        "p_3m": "3개월",
        "p_ytd": "올해",
        "p_1y": "1년",
        "p_all": "전체",
        "twr_note": "시간가중 수익률: 입출금은 성과에 포함되지 않습니다.",
        "latest": "최근 스냅샷",
        "equity_ccy": "평가금액",
        "day": "날짜",
        "currency": "통화",
        "fx": "환율 (원)",
        "taken_from": "출처",
        "src_broker": "증권사 잔고",
        "src_backfill": "체결 내역으로 보충",
        "fx_base": "기준 통화",
        "fx_kis": "한국투자증권",
        "fx_config": "설정값",
        "fx_previous": "전일 환율",
        "base_note": "원화 기준, 각 스냅샷의 환율 적용.",
    },
}

# The metrics in the order shown, with how each is written.
METRICS: list[tuple[str, str]] = [
    ("cumulative_return", "pct"),
    ("cagr", "pct"),
    ("volatility", "pct"),
    ("sharpe", "ratio"),
    ("sortino", "ratio"),
    ("max_drawdown", "pct"),
    ("max_drawdown_days", "days"),
    ("exposure", "pct"),
    ("trades", "int"),
    ("win_rate", "pct"),
    ("profit_factor", "ratio"),
    ("avg_win", "pct"),
    ("avg_loss", "pct"),
    ("days", "int"),
]

PERIODS = ("1m", "3m", "ytd", "1y", "all")
# Shown with their sign (+1.23%): the returns; the others are sizes (volatility, shares).
SIGNED = frozenset({"cumulative_return", "cagr", "max_drawdown", "avg_win", "avg_loss"})


def words(language: str) -> dict[str, str]:
    return WORDS.get(language, WORDS["en"])


def period_start(period: str, today: date) -> date | None:
    """The first day of a named period ending ``today`` (None: from the first snapshot)."""
    if period == "1m":
        return today - timedelta(days=30)
    if period == "3m":
        return today - timedelta(days=91)
    if period == "ytd":
        return date(today.year, 1, 1)
    if period == "1y":
        return today - timedelta(days=365)
    return None


def shown(metrics: Metrics, name: str, kind: str, language: str) -> str:
    """One metric as written for people ("–" when it cannot be computed)."""
    value = getattr(metrics, name)
    if value is None:
        return "–"
    if kind == "pct":
        signed = name in SIGNED
        percent = _no_negative_zero(value * 100, 2 if signed else 1)
        return f"{percent:+.2f}%" if signed else f"{percent:.1f}%"
    if kind == "ratio":
        return f"{_no_negative_zero(value, 2):.2f}"
    if kind == "days":
        return words(language)["days_unit"].format(n=value)
    return str(value)


def _no_negative_zero(value: float, digits: int) -> float:
    """``value``, or 0.0 where it rounds to zero at ``digits`` (never "-0.00")."""
    return 0.0 if round(value, digits) == 0 else value


def metric_rows(metrics: Metrics, language: str) -> list[tuple[str, str, str]]:
    """(metric, its name in ``language``, its value as shown) in the order shown."""
    w = words(language)
    return [(name, w[name], shown(metrics, name, kind, language)) for name, kind in METRICS]


def _plain(value: Any) -> Any:
    """A value for JSON: a Decimal as its plain text, a date or a time in ISO 8601."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return views.plain(value)


def metrics_json(metrics: Metrics) -> dict[str, Any]:
    return {
        name: _plain(getattr(metrics, name)) for name in ("start", "end", *(n for n, _ in METRICS))
    }


def report_json(report: Report) -> dict[str, Any]:
    return {
        "account": report.account,
        "strategy": report.strategy,
        "from": _plain(report.since),
        "to": _plain(report.until),
        "base_day": _plain(report.base_day),
        "metrics": metrics_json(report.metrics),
        "flows_krw": _plain(report.flows),
        "strategies": {name: metrics_json(m) for name, m in report.strategies.items()},
        "latest": [
            {
                "account": r.account,
                "day": r.day.isoformat(),
                "currency": r.currency,
                "equity": _plain(r.equity),
                "equity_krw": _plain(r.equity_krw),
                "fx_rate": _plain(r.fx.rate),
                "fx_source": r.fx.source.value,
                "fx_at": _plain(r.fx.at),
                "source": r.source.value,
            }
            for r in report.latest
        ],
        "returns": [{"date": r.day.isoformat(), "returns": r.value} for r in report.returns],
        "curve": [
            {
                "date": p.day.isoformat(),
                "equity_krw": _plain(p.equity),
                "index": p.index,
                "drawdown": p.drawdown,
            }
            for p in report.curve
        ],
    }


def returns_csv(report: Report) -> str:
    """``date,returns`` then one line per day (a fraction: 0.01 is 1 %)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "returns"])
    for r in report.returns:
        writer.writerow([r.day.isoformat(), repr(r.value)])
    return out.getvalue()


def csv_name(report: Report) -> str:
    """A file name for the CSV: the scope and the period."""
    scope = report.strategy or report.account or "all"
    end = report.metrics.end.isoformat() if report.metrics.end else "none"
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in scope)
    return f"yquant-returns-{safe}-{end}.csv"
