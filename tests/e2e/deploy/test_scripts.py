"""The operator scripts that change a machine, run where they can be: deploy.sh into a private
root (releases, links, rollback) and setup.sh as a dry run that only prints its plan."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.e2e.deploy.stack import ROOT, SCRIPTS


def _deploy(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YQUANT")}
    # uv on PATH, else the one `make` bootstrapped for this checkout.
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    env.update(
        YQ_ROOT=str(root),
        YQ_UV=uv,
        YQ_SYSTEMCTL="false",  # any restart would fail the test: --no-restart is honoured
        YQUANT_ENV_FILE=str(root / "no-env-file"),
    )
    return subprocess.run(
        ["bash", str(SCRIPTS / "deploy.sh"), *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_deploy_installs_releases_and_rolls_back(tmp_path: Path) -> None:
    root = tmp_path / "opt"
    archive = tmp_path / "yquant.tar.gz"
    subprocess.run(
        [
            "tar", "-czf", str(archive), "--exclude=.venv", "--exclude=.git", "--exclude=data",
            "--exclude=__pycache__", "--exclude=.*_cache", "-C", str(ROOT.parent), ROOT.name,
        ],
        check=True,
    )  # fmt: skip
    first = _deploy(root, "--archive", str(archive), "--no-restart")
    assert first.returncode == 0, first.stdout + first.stderr
    current = (root / "current").resolve()
    assert current.parent == root / "releases"
    version = subprocess.run(
        [str(root / "current" / ".venv" / "bin" / "yquant"), "--version"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert version.returncode == 0 and version.stdout.startswith("yquant ")
    assert (current / "deploy" / "haproxy" / "haproxy.cfg.j2").is_file()
    # Compiled at install: the roles, on a read-only /opt, start without compiling a module.
    assert list((current / "src" / "yquant" / "adapters" / "db" / "__pycache__").glob("*.pyc"))
    assert list((current / ".venv").glob("lib/python3*/site-packages/sqlalchemy/__pycache__/*.pyc"))

    second = _deploy(root, "--source", str(ROOT), "--no-restart")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (root / "previous").resolve() == current
    newer = (root / "current").resolve()
    assert newer != current

    back = _deploy(root, "--rollback", "--no-restart")
    assert back.returncode == 0, back.stdout + back.stderr
    assert (root / "current").resolve() == current
    assert (root / "previous").resolve() == newer


def test_setup_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    worker = subprocess.run(
        ["bash", str(SCRIPTS / "setup.sh"), "worker", "--worker", "blue", "--dry-run"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stdout + worker.stderr
    plan = worker.stdout
    if not _user_exists("yquant"):
        assert "useradd --system" in plan
    assert "render-units --node worker --worker blue" in plan
    assert "tcp dport 6000 ip saddr 10.0.0.0/24 accept" in plan
    assert "tcp dport 6379 drop" in plan
    # The worker keeps its own copy of the database backups (for scripts/emergency.sh).
    assert "--backup-keep 14 --output /etc/systemd/system" in plan
    assert "systemctl enable --now yquant-backup.timer" in plan

    data = subprocess.run(
        [
            "bash", str(SCRIPTS / "setup.sh"), "data", "--domain", "hooks.example.com",
            "--email", "ops@example.com", "--blue", "10.0.0.11:6000",
            "--green", "10.0.0.12:6000", "--dry-run",
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert data.returncode == 0, data.stdout + data.stderr
    # The application's user may read and write rows, never change the schema.
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON yquant.* TO \\'yquant_app\\'@\\'10.0.0.%" in (
        data.stdout
    )
    assert "render-haproxy --domain hooks.example.com" in data.stdout
    assert "tcp dport 3306 ip saddr 10.0.0.0/24 accept" in data.stdout
    assert "certbot certonly --standalone" in data.stdout or "keeping" in data.stdout
    assert "render-units --node data --backup-keep 14" in data.stdout
    assert "enable --now yquant-catalog-sync.timer yquant-backup.timer" in data.stdout


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# ---- setup.sh's env file, read by bash and by systemd alike ------------------------------------


class _EnvironmentFile:
    """The state machine of systemd's parse_env_file_internal (src/basic/env-file.c), one
    method per state; each takes a character and returns the next state."""

    def __init__(self) -> None:
        self.out: dict[str, str] = {}
        self.key = ""
        self.value = ""
        self.trailing: int | None = None  # where trailing whitespace of a bare value begins

    def push(self) -> str:
        name = self.key.rstrip(" \t")
        value = self.value[: self.trailing] if self.trailing is not None else self.value
        if name and not name[0].isdigit() and all(ch.isalnum() or ch == "_" for ch in name):
            self.out[name] = value
        return "pre_key"

    def pre_key(self, c: str) -> str:
        if c in "#;":
            return "comment"
        if c in " \t\n\r":
            return "pre_key"
        self.key, self.value, self.trailing = c, "", None
        return "key"

    def key_(self, c: str) -> str:
        if c in "\n\r":
            return "pre_key"  # a line without '=' is ignored
        if c == "=":
            return "pre_value"
        self.key += c
        return "key"

    def pre_value(self, c: str) -> str:
        quoted = {"'": "single", '"': "double", "\\": "value_escape"}
        if c in "\n\r":
            return self.push()
        if c in quoted:
            return quoted[c]
        if c in " \t":
            return "pre_value"
        self.value += c
        return "value"

    def value_(self, c: str) -> str:
        if c in "\n\r":
            return self.push()
        if c == "\\":
            self.trailing = None
            return "value_escape"
        if c not in " \t":
            self.trailing = None
        elif self.trailing is None:
            self.trailing = len(self.value)
        self.value += c
        return "value"

    def value_escape(self, c: str) -> str:
        if c not in "\n\r":  # a backslash before a newline continues the line
            self.value += c
        return "value"

    def single(self, c: str) -> str:
        if c == "'":
            return "pre_value"
        self.value += c
        return "single"

    def double(self, c: str) -> str:
        if c == '"':
            return "pre_value"
        if c == "\\":
            return "double_escape"
        self.value += c
        return "double"

    def double_escape(self, c: str) -> str:
        if c in '"\\`$':
            self.value += c
        elif c != "\n":
            self.value += "\\" + c
        return "double"

    def comment(self, c: str) -> str:
        if c == "\\":
            return "comment_escape"
        return "pre_key" if c in "\n\r" else "comment"

    def comment_escape(self, c: str) -> str:
        return "comment"


def systemd_environment_file(text: str) -> dict[str, str]:
    """The assignments systemd takes from an ``EnvironmentFile=`` (systemd.exec(5)): ``#``/``;``
    comment lines; whitespace around the key and the value stripped; single quotes literal; in
    double quotes a backslash escapes only ``"\\`$`` (and a newline), else it stays; outside
    quotes a backslash escapes the next character; quotes in the middle of a bare value are
    literal; a backslash before a newline continues the line."""
    reader = _EnvironmentFile()
    states = {
        "pre_key": reader.pre_key, "key": reader.key_, "pre_value": reader.pre_value,
        "value": reader.value_, "value_escape": reader.value_escape, "single": reader.single,
        "double": reader.double, "double_escape": reader.double_escape,
        "comment": reader.comment, "comment_escape": reader.comment_escape,
    }  # fmt: skip
    state = "pre_key"
    for c in text + "\n":
        state = states[state](c)
    return reader.out


def test_the_environment_file_reader_follows_systemds_rules() -> None:
    text = (
        '# comment\n; comment too\nA=["x"]\nB = \'a b\' \nC="q\\"\\n\\$"\nD=x\\ y  \n'
        "E=1\\\n2\nF=\"a\"b'c'\n"
    )
    assert systemd_environment_file(text) == {
        "A": '["x"]', "B": "a b", "C": 'q"\\n$', "D": "x y", "E": "12", "F": "ab'c'",
    }  # fmt: skip


def _setup_writes(plan: str, path: str) -> str:
    """The content setup.sh --dry-run shows for a file it would write."""
    head = f"+ write {path} "
    lines = plan.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    assert lines[start].endswith("<<EOF"), lines[start]
    end = lines.index("EOF", start)
    return "\n".join(lines[start + 1 : end]) + "\n"


def _bash_environment(env_file: Path) -> dict[str, str]:
    """What scripts/yquant-env.sh gives the operator scripts: bash `set -a; . FILE`."""
    shown = subprocess.run(
        ["bash", "-c", 'set -a; . "$0"; set +a; env -0', str(env_file)],
        env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    pairs = (item.split("=", 1) for item in shown.stdout.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("YQUANT")}


def test_setups_env_file_reads_alike_in_bash_and_systemd_and_health_check_runs_with_it(
    tmp_path: Path,
) -> None:
    """setup.sh wrote TRUSTED_PROXIES=["10.0.0.0/24"]: systemd kept the quotes, bash took
    them away, and health-check.sh (bash) then died on a settings traceback."""
    import json
    import sys

    from tests.support import YquantUp

    plan = subprocess.run(
        ["bash", str(SCRIPTS / "setup.sh"), "worker", "--worker", "blue", "--dry-run"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stdout + plan.stderr
    env_text = _setup_writes(plan.stdout, "/etc/yquant/yquant.env")
    env_file = tmp_path / "yquant.env"
    env_file.write_text(env_text)
    by_systemd = systemd_environment_file(env_text)
    assert by_systemd["YQUANT__WEBHOOK__TRUSTED_PROXIES"] == "10.0.0.0/24"
    assert _bash_environment(env_file) == by_systemd
    config = tmp_path / "yquant.toml"
    config.write_text(_setup_writes(plan.stdout, "/etc/yquant/yquant.toml"))

    up = YquantUp(tmp_path / "data").start()
    try:
        # The node's file as written, but for what points at this machine's test services
        # (no MariaDB: the SQLite file of `yquant up`).
        local = {
            "YQUANT__VALKEY__URL": f"redis://127.0.0.1:{up.valkey_port}/0",
            "YQUANT__WEBHOOK__PORT": str(up.webhook_port),
            "YQUANT__DASHBOARD__PORT": str(up.dashboard_port),
        }
        lines = []
        for line in env_text.splitlines():
            name = line.split("=", 1)[0]
            if name != "YQUANT__DATABASE__URL":
                lines.append(f"{name}={local[name]}" if name in local else line)
        env_file.write_text("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("YQUANT")}
        env.update(
            YQUANT_BIN=str(Path(sys.executable).parent / "yquant"),
            YQUANT_ENV_FILE=str(env_file),
            YQUANT_CONFIG=str(config),
            YQUANT__DATA_DIR=str(up.data_dir),
        )
        check = subprocess.run(
            ["bash", str(SCRIPTS / "health-check.sh"), "--json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        up.stop()
    assert "Traceback" not in check.stderr and "invalid settings" not in check.stderr, check.stderr
    report = json.loads(check.stdout)
    assert report["worker"] == "blue"
    assert report["http"] == {"webhook": 200, "dashboard": 200}
