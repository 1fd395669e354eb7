"""Start-up failures a user can cause are one line that says what to do, exit code 2, no
traceback (``--debug`` shows it): the data directory, a port, the database URL, MariaDB."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, yquant_env


def _up(data_dir: Path, *args: str, user_prefix: list[str] | None = None, **env: str) -> Any:
    full = yquant_env(
        data_dir,
        YQUANT__WEBHOOK__HOST="127.0.0.1",
        YQUANT__WEBHOOK__PORT=str(free_port()),
        YQUANT__DASHBOARD__PORT=str(free_port()),
        YQUANT__VALKEY__EMBEDDED_PORT=str(free_port()),
    )
    full.update(env)
    return subprocess.run(
        [*(user_prefix or []), sys.executable, "-m", "yquant", *(args or ("up",))],
        env=full, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _one_clear_line(
    result: subprocess.CompletedProcess[str], *words: str, after_logs: bool = False
) -> str:
    """The error is one line; ``after_logs``: after INFO log lines of what went well."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    if after_logs:
        lines = [x for x in lines if not re.match(r"\d{4}-\d\d-\d\d [\d:,]+ INFO ", x)]
    [line] = lines
    assert line.startswith("yquant: ")
    for word in words:
        assert word in line, line
    return line


def _not_root() -> list[str]:
    """Run without root's power to write anywhere: as root, without the capabilities that
    override file permissions (as another user, this interpreter may be out of reach)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.fail("running as root without setpriv (util-linux): permissions cannot be shown")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]


def test_a_file_where_the_data_directory_should_be(tmp_path: Path) -> None:
    in_the_way = tmp_path / "data"
    in_the_way.write_text("not a directory")
    _one_clear_line(_up(in_the_way), str(in_the_way), "a file is in the way", "YQUANT__DATA_DIR")
    below = in_the_way / "sub"
    _one_clear_line(_up(below), str(below), "is a file", "YQUANT__DATA_DIR")


def test_a_data_directory_this_user_may_not_write(tmp_path: Path) -> None:
    prefix = _not_root()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    line = _one_clear_line(_up(locked, user_prefix=prefix), str(locked), "cannot write in it")
    assert "YQUANT__DATA_DIR" in line
    # A data directory still to be made, in a parent this user may not write.
    missing = locked / "data"
    _one_clear_line(_up(missing, user_prefix=prefix), str(missing), "cannot create it")
    upgrade = _up(missing, "db", "upgrade", user_prefix=prefix)
    _one_clear_line(upgrade, str(missing), "cannot create it")
    locked.chmod(0o755)


def test_a_port_in_use_is_named_with_its_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _up(tmp_path / "data", YQUANT__WEBHOOK__PORT=str(port))
    words = (f"webhook port {port}", "in use", "YQUANT__WEBHOOK__PORT")
    _one_clear_line(result, *words, after_logs=True)


def test_a_database_url_that_does_not_parse_is_named_without_its_password(
    tmp_path: Path,
) -> None:
    url = "mysql+asyncmy://yq:pa#ss@127.0.0.1:x/yquant"
    line = _one_clear_line(_up(tmp_path / "data", YQUANT__DATABASE__URL=url), "database.url")
    assert "pa#ss" not in line


def test_an_unreachable_database_says_what_to_check_and_debug_shows_the_traceback(
    tmp_path: Path,
) -> None:
    url = f"mysql+asyncmy://yq@127.0.0.1:{free_port()}/yquant"
    result = _up(tmp_path / "data", YQUANT__DATABASE__URL=url)
    _one_clear_line(result, "cannot reach the database", "YQUANT__DATABASE__URL")
    debug = _up(tmp_path / "data", "--debug", "up", YQUANT__DATABASE__URL=url)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "cannot reach the database" in debug.stderr


# ---- before the first start, and output into a pipe that closes ------------------------------


@pytest.mark.parametrize("command", [("info", "000660"), ("signals",), ("control",)])
def test_before_the_first_start_a_command_says_what_to_do(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    data = tmp_path / "data"
    line = _one_clear_line(_up(data, *command), "no tables yet", "yquant db upgrade")
    assert "no such table" not in line
    assert not data.exists()  # nothing was created on the way
    data.mkdir()  # a data directory from somewhere else, its database still to be made
    _one_clear_line(_up(data, "catalog", "status"), "no tables yet", "yquant db upgrade")


def test_on_an_empty_mariadb_database_info_says_what_to_do(tmp_path: Path) -> None:
    from tests.support import mariadb_available, mariadb_database

    if not mariadb_available():
        pytest.fail("MariaDB is not reachable on 127.0.0.1:3306; the suite needs the real server")
    with mariadb_database() as url:
        result = _up(tmp_path / "data", "info", "000660", YQUANT__DATABASE__URL=url)
    _one_clear_line(result, "no tables yet", "yquant db upgrade")


def test_a_listing_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`yquant signals | head`: the reader goes away; no BrokenPipeError traceback, exit 0."""
    env = yquant_env(tmp_path / "data")
    assert _up(tmp_path / "data", "db", "upgrade").returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "yquant", "signals"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `head` does once it has its lines
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert err == ""
