"""`yquant report`: reports over what was traded, one subcommand per report.

    yquant report [OPTIONS]              the performance report (the same as `report performance`)
    yquant report performance [OPTIONS]  returns, risk and trade statistics per account or strategy
    yquant report <other> ...            further reports, one module each in this package

Each module of this package defines ``register(reports, group)``: ``reports`` is the
subparsers object of `yquant report`, on which it adds its subcommand, and ``group`` the
`yquant report` parser itself. Only the module that owns the bare `yquant report` (the
performance report) puts its options and handler on ``group``; the others add a subcommand and
touch nothing else, so a new report is a new module and no existing file changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any


def register(sub: Any) -> None:
    group = sub.add_parser(
        "report",
        help="reports: performance per account and strategy, and more (see `yquant report -h`)",
        description="Reports over what was traded. Without a subcommand: the performance report.",
    )
    reports = group.add_subparsers(metavar="REPORT")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}").register(reports, group)
