"""Why a catalog sync refused to write: every one of these leaves the stored catalog as it was."""

from __future__ import annotations

from yquant.adapters.catalog.sources import MasterFile
from yquant.errors import YquantError


class CatalogSyncError(YquantError):
    """The sync stopped before writing anything."""


class MasterFileError(CatalogSyncError):
    """A master file that cannot be used: not downloaded whole, not a zip, not the layout."""

    def __init__(self, file: MasterFile, problem: str) -> None:
        super().__init__(f"{file.label}: {problem}")
        self.file = file
        self.problem = problem


class CatalogShrinkError(CatalogSyncError):
    """A file far smaller than the catalog it would replace: taken for a partial file."""
