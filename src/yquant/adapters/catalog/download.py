"""Fetching master-file archives over HTTPS and opening them, with TLS verification on.

KIS's own scripts switch certificate checks off; we do not. A download that ends early, an
HTTP error, a body that is not a complete zip or a zip without the expected file all raise
`MasterFileError`, so a partial file never reaches the parser.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import httpx

from yquant.adapters.catalog.errors import MasterFileError
from yquant.adapters.catalog.sources import MasterFile

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024  # the largest real file is a few MB
MAX_MEMBER_BYTES = 256 * 1024 * 1024

# progress(received bytes, total bytes or None)
Progress = Callable[[int, int | None], None]


async def fetch(
    client: httpx.AsyncClient, base_url: str, file: MasterFile, progress: Progress | None = None
) -> bytes:
    """The archive's bytes, complete, or MasterFileError."""
    url = base_url + file.archive
    received = bytearray()
    total: int | None = None
    wire = 0
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise MasterFileError(file, f"download failed: HTTP {response.status_code}")
            length = response.headers.get("content-length", "")
            total = int(length) if length.isdigit() else None
            async for chunk in response.aiter_bytes():
                received += chunk
                if len(received) > MAX_ARCHIVE_BYTES:
                    raise MasterFileError(file, "download is larger than any master file")
                if progress is not None:
                    progress(response.num_bytes_downloaded, total)
            wire = response.num_bytes_downloaded
    except httpx.HTTPError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise MasterFileError(
            file, f"download failed: {type(exc).__name__} {reason}".rstrip()
        ) from None
    if total is not None and wire != total:
        raise MasterFileError(file, f"download cut short: {wire} of {total} bytes")
    return bytes(received)


def unzip(file: MasterFile, archive: bytes) -> bytes:
    """The one file inside the archive (KIS ships exactly one per zip), CRC-checked."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            wanted = [n for n in names if n.rsplit("/", 1)[-1].lower() == file.member.lower()]
            if len(wanted) != 1 and len(names) == 1:
                wanted = names
            if len(wanted) != 1:
                raise MasterFileError(
                    file, f"archive holds {names[:5]!r}, not the one file {file.member!r}"
                )
            info = zf.getinfo(wanted[0])
            if info.file_size > MAX_MEMBER_BYTES:
                raise MasterFileError(file, "archive member is larger than any master file")
            return zf.read(info)  # raises BadZipFile on a CRC mismatch
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise MasterFileError(
            file, f"not a complete zip archive (truncated download?): {exc}"
        ) from None
