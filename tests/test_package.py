"""The package installs as one import package `cotfactory` over the top-level folders."""

import subprocess
import sys
from pathlib import Path

from helpers import run_cli


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_subpackages_import_from_outside_the_repo(tmp_path: Path) -> None:
    result = run_python(
        "import cotfactory.storage, cotfactory.filters, cotfactory.samplers, cotfactory.flows; "
        "print(cotfactory.storage.Store.__module__)",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cotfactory.storage.store"


def test_bare_folder_imports_fail_outside_the_repo(tmp_path: Path) -> None:
    for name in ("filters", "storage", "flows", "samplers"):
        result = run_python(f"import {name}", tmp_path)
        assert result.returncode != 0
        assert "ModuleNotFoundError" in result.stderr


def test_console_script_lists_commands(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("import-prompts", "sql", "export", "migrate"):
        assert command in result.stdout
