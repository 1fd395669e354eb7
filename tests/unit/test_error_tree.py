"""Every error yQuant raises on purpose sits on the branch of its reaction (errors.py)."""

from __future__ import annotations

from yquant.adapters.brokers.kis.errors import KisOutcomeUnknownError
from yquant.adapters.brokers.kis_sim.exchange import RefusedError
from yquant.adapters.catalog.errors import CatalogShrinkError, CatalogSyncError, MasterFileError
from yquant.adapters.catalog.sources import MASTER_FILES
from yquant.domain.reasons import ReasonCode
from yquant.errors import (
    ConfigurationError,
    HaltError,
    RejectedError,
    RetryableError,
    SchemaMissingError,
    YquantError,
)
from yquant.services.control import ControlError

BRANCHES = (RetryableError, RejectedError, HaltError)


def test_refusals_are_rejected_errors_with_their_messages_unchanged() -> None:
    control = ControlError("scope 'x' is not an account", ReasonCode.UNKNOWN_ACCOUNT)
    assert isinstance(control, RejectedError)
    assert (str(control), control.code, control.reason) == (
        "scope 'x' is not an account",
        ReasonCode.UNKNOWN_ACCOUNT,
        ReasonCode.UNKNOWN_ACCOUNT,
    )
    file = next(iter(MASTER_FILES.values()))[0]
    bad = MasterFileError(file, "download failed: HTTP 503")
    assert isinstance(bad, CatalogSyncError) and isinstance(bad, RejectedError)
    assert str(bad) == f"{file.label}: download failed: HTTP 503"
    assert str(CatalogShrinkError("KOSDAQ: 10 rows")) == "KOSDAQ: 10 rows"
    refused = RefusedError("APBK0919", "주문가능수량을 초과했습니다")
    assert isinstance(refused, RejectedError)
    assert (str(refused), refused.code, refused.reason) == (
        "APBK0919 주문가능수량을 초과했습니다",
        "APBK0919",
        ReasonCode.BROKER_REJECTED,
    )


def test_each_error_sits_on_one_branch_except_the_unknown_outcome() -> None:
    for error in (ControlError, CatalogSyncError, RefusedError, SchemaMissingError):
        assert sum(issubclass(error, branch) for branch in BRANCHES) == 1, error
    assert issubclass(SchemaMissingError, ConfigurationError)
    # An unknown outcome is not a failure: it is on no branch, only on the root.
    assert issubclass(KisOutcomeUnknownError, YquantError)
    assert not any(issubclass(KisOutcomeUnknownError, branch) for branch in BRANCHES)
