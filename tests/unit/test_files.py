"""yquant.files: atomic replacement of a file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yquant.files import atomic_write, replace, write_beside


def test_atomic_write_creates_the_directory_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.json"
    atomic_write(path, '{"x": 1}')
    assert path.read_text() == '{"x": 1}'
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_atomic_write_takes_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    atomic_write(path, b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"


def test_a_replaced_file_keeps_its_mode_unless_one_is_given(tmp_path: Path) -> None:
    path = tmp_path / "cfg"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o640
    atomic_write(path, "newer", mode=0o600)
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_new_file_gets_the_usual_mode(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o640


def test_a_file_written_beside_replaces_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text("old")
    tmp = write_beside(path, "new")
    assert tmp.parent == tmp_path and path.read_text() == "old"
    replace(tmp, path)
    assert path.read_text() == "new" and not tmp.exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.write_text("old")
    with pytest.raises(TypeError):
        atomic_write(path, 42)  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state"]
