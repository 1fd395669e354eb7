"""The operator scripts that change a machine, run where they can be: deploy.sh into a private
root (releases, links, rollback) and setup.sh as a dry run that only prints its plan."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.deploy.stack import ROOT, SCRIPTS


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


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
