"""The domain contract names every other top-level module of the package, so none is missed."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The domain itself, the error tree it raises, and the package's own entry files. (migrations/
# is Alembic's folder of scripts, not a package.)
NOT_FORBIDDEN = {"yquant.domain", "yquant.errors", "yquant.__init__", "yquant.__main__"}


def _domain_contract() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c.get("source_modules") == ["yquant.domain"]]
    return contract


def _top_level_modules() -> set[str]:
    package = ROOT / "src" / "yquant"
    names = {f"yquant.{p.stem}" for p in package.glob("*.py")}
    names |= {f"yquant.{p.name}" for p in package.iterdir() if (p / "__init__.py").exists()}
    return names - NOT_FORBIDDEN


def test_the_domain_contract_forbids_every_other_top_level_module() -> None:
    forbidden = set(_domain_contract()["forbidden_modules"])  # type: ignore[call-overload]
    missing = sorted(_top_level_modules() - forbidden)
    assert missing == [], f"add to the domain contract in pyproject.toml: {missing}"


def test_the_domain_contract_names_only_modules_that_exist() -> None:
    forbidden = {m for m in _domain_contract()["forbidden_modules"] if m.startswith("yquant.")}  # type: ignore[attr-defined]
    assert forbidden <= _top_level_modules()


def test_importing_the_services_loads_no_io_library() -> None:
    """Settings hold each adapter's own section (the KIS account settings live with the KIS
    adapter); reading them must not pull the adapters' libraries into the services."""
    import subprocess
    import sys

    code = (
        "import pkgutil, importlib, sys\n"
        "import yquant.services as s\n"
        "for m in pkgutil.iter_modules(s.__path__):\n"
        "    importlib.import_module(f'yquant.services.{m.name}')\n"
        "heavy = ('httpx', 'valkey', 'websockets', 'cryptography', 'sqlalchemy', 'starlette')\n"
        "print(sorted({n.split('.')[0] for n in sys.modules if n.startswith(heavy)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout
