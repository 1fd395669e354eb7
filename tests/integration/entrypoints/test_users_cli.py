"""`yquant users add|list|remove`: the password from standard input only, refusals with a
reason and a non-zero exit, the audit entries under the OS user."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import yquant, yquant_env, yquant_json
from yquant.adapters.db import migrate


def _users(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yquant", "users", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_users_are_managed_from_the_command_line(tmp_path: Path) -> None:
    env = yquant_env(tmp_path / "data")
    (tmp_path / "data").mkdir()
    migrate.upgrade(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'yquant.sqlite3'}")

    added = _users(env, "add", "alice", "--password-stdin", stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added alice"
    again = _users(env, "add", "alice", "--password-stdin", stdin="correct horse battery\n")
    assert again.returncode == 2
    assert "exists" in again.stderr and "--replace" in again.stderr
    short = _users(env, "add", "bob", "--password-stdin", stdin="short\n")
    assert short.returncode == 2
    assert "at least 12 characters" in short.stderr
    # Without --password-stdin and without a terminal there is nobody to ask.
    silent = _users(env, "add", "bob", stdin="correct horse battery\n")
    assert silent.returncode == 2
    assert "--password-stdin" in silent.stderr

    [alice] = yquant_json("users", "list", env=env)
    assert alice["name"] == "alice"
    assert alice["last_login_at"] is None and alice["locked_until"] is None
    assert "correct horse" not in yquant("users", "list", env=env).stdout

    replaced = _users(
        env, "add", "alice", "--password-stdin", "--replace", stdin="another long password\n"
    )
    assert replaced.returncode == 0, replaced.stderr
    assert _users(env, "remove", "alice").returncode == 0
    missing = _users(env, "remove", "alice")
    assert missing.returncode == 1
    assert "no user 'alice'" in missing.stderr
    assert yquant_json("users", "list", env=env) == []
