"""Guard rails that CI runs with the tests: ruff (lint and format) and the import contracts.

The contracts live in pyproject.toml (``[tool.importlinter]``): the core ``landreg`` imports neither
``api`` nor ``maps``, and ``maps`` does not import ``api``. Each check runs the tool of this
virtual environment, as a developer would (``ruff check .``, ``ruff format --check .``,
``lint-imports``), and fails with the tool's own report.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("landreg", "api", "maps")
CONTRACTS = {
    tuple(contract["source_modules"]): contract["name"]
    for contract in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}


def _run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _report(result: subprocess.CompletedProcess) -> str:
    return f"`{shlex.join(result.args)}` exited {result.returncode}:\n{result.stdout}{result.stderr}"


def _succeeds(result: subprocess.CompletedProcess, hint: str = "") -> None:
    if result.returncode != 0:
        pytest.fail(_report(result) + hint, pytrace=False)


def _lint_imports(cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``lint-imports`` of this environment (beside its python), without a cache in the work tree."""
    return _run(str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--no-logo", cwd=cwd, env=env)


def test_ruff_finds_nothing_to_complain_about():
    _succeeds(_run(sys.executable, "-m", "ruff", "check", "--output-format", "concise", "."))


def test_the_code_is_formatted_as_ruff_formats_it():
    _succeeds(_run(sys.executable, "-m", "ruff", "format", "--check", "."), "To format: .venv/bin/ruff format .")


def test_the_import_contracts_are_kept():
    result = _lint_imports()
    _succeeds(result)
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in result.stdout, _report(result)


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("landreg/_bad.py", "import api\n", ("landreg",)),
        ("landreg/_bad.py", "from maps import catalogue\n", ("landreg",)),
        ("maps/_bad.py", "import api.app\n", ("maps",)),
    ],
)
def test_an_import_across_a_contract_is_reported(tmp_path, module, source, contract):
    """The same contracts on a copy of the packages with one forbidden import added: it is found."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / module).write_text(source)
    bad = module.removesuffix(".py").replace("/", ".")

    result = _lint_imports(cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})

    assert result.returncode == 1, _report(result)
    assert f"{CONTRACTS[contract]} BROKEN" in result.stdout, _report(result)
    assert f"{bad} -> " in result.stdout, _report(result)
    assert "Contracts: 1 kept, 1 broken." in result.stdout, _report(result)
