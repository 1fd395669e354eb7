"""The data directory lock between real processes: roles share it, `up` holds it alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from yquant.instance import DataDirInUseError, DataDirLock
from yquant.processes import die_with_parent

HOLD = """
import sys, time
from pathlib import Path
from yquant.instance import DataDirLock
DataDirLock(Path(sys.argv[1])).acquire(exclusive=sys.argv[2] == "ex", what="holder")
print("held", flush=True)
time.sleep(60)
"""


def _holder(data: Path, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data), mode],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent(),
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def test_roles_share_the_directory_and_up_is_refused_beside_them(tmp_path: Path) -> None:
    role = _holder(tmp_path, "sh")
    try:
        DataDirLock(tmp_path).acquire(exclusive=False, what="another role").release()
        with pytest.raises(DataDirInUseError) as refused:
            DataDirLock(tmp_path).acquire(exclusive=True, what="`yquant up`")
        assert refused.value.holders == [role.pid]
        assert f"(PID {role.pid})" in str(refused.value)
    finally:
        _stop(role)


def test_an_exclusive_holder_refuses_everyone_until_it_dies(tmp_path: Path) -> None:
    up = _holder(tmp_path, "ex")
    try:
        for exclusive in (True, False):
            with pytest.raises(DataDirInUseError) as refused:
                DataDirLock(tmp_path).acquire(exclusive=exclusive, what="this")
            assert refused.value.holders == [up.pid]
            assert (tmp_path / "yquant.lock").read_text().strip() == str(up.pid)
    finally:
        _stop(up)  # SIGKILL: the kernel drops the lock, nothing stale is left
    DataDirLock(tmp_path).acquire(exclusive=True, what="the next `up`").release()


def test_a_process_started_by_the_holder_runs_under_its_lock(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path).acquire(exclusive=True, what="`yquant up`")
    try:
        child = subprocess.run(
            [sys.executable, "-c", HOLD.replace("time.sleep(60)", ""), str(tmp_path), "sh"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert child.returncode == 0, child.stderr
        assert child.stdout == "held\n"
    finally:
        lock.release()
