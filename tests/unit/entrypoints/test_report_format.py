"""The metrics as people read them: signed returns, unsigned sizes, no "-0.00%"."""

from __future__ import annotations

from dataclasses import replace

from yquant.domain.performance import metrics
from yquant.entrypoints.performance import shown


def test_returns_carry_their_sign_and_sizes_do_not() -> None:
    m = replace(metrics([]), cumulative_return=0.0123, volatility=0.164, sharpe=-0.456)
    assert shown(m, "cumulative_return", "pct", "en") == "+1.23%"
    assert shown(m, "volatility", "pct", "en") == "16.4%"
    assert shown(m, "sharpe", "ratio", "en") == "-0.46"
    assert shown(m, "cagr", "pct", "en") == "–"  # none over no days
    assert shown(m, "max_drawdown_days", "days", "ko") == "0일"


def test_a_value_that_rounds_to_zero_is_never_negative() -> None:
    m = replace(metrics([]), cumulative_return=-1e-17, sharpe=-0.001)
    assert shown(m, "cumulative_return", "pct", "en") == "+0.00%"
    assert shown(m, "sharpe", "ratio", "en") == "0.00"
