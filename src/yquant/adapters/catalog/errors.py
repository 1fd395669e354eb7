"""Why a catalog sync refused to write: every one of these leaves the stored catalog as it was."""

from __future__ import annotations

from yquant.adapters.catalog.sources import MasterFile
from yquant.domain.reasons import ReasonCode
from yquant.errors import RejectedError


class CatalogSyncError(RejectedError):
    """The sync stopped before writing anything.

    A RejectedError for every subclass, a failed download included: the sync never retries on
    its own. Each of these ends the run, keeps the stored catalog and tells the operator, who
    runs it again (a download that failed may then succeed; a bad file stays bad until KIS
    publishes another)."""

    def __init__(self, message: str) -> None:
        super().__init__(ReasonCode.CATALOG_REFUSED, message, message=message)


class MasterFileError(CatalogSyncError):
    """A master file that cannot be used: not downloaded whole, not a zip, not the layout."""

    def __init__(self, file: MasterFile, problem: str) -> None:
        super().__init__(f"{file.label}: {problem}")
        self.file = file
        self.problem = problem


class CatalogShrinkError(CatalogSyncError):
    """A file far smaller than the catalog it would replace: taken for a partial file."""
