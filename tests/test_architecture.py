"""The layers hold: the import contracts pass and catch a wrong-way import; the domain never
reaches for the request; imports sit at the top of modules."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
DOMAIN = ("cases", "accounts", "eligibility", "programmes", "mail", "jobs")
# Names of Flask's request-bound globals the domain must never read.
REQUEST_GLOBALS = {"request", "session", "g", "has_request_context"}


def python_files(*parts: str) -> list[Path]:
    base = ROOT.joinpath(*parts)
    return (
        [base.with_suffix(".py")]
        if base.with_suffix(".py").exists()
        else sorted(base.rglob("*.py"))
    )


def run_lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(cwd / "pyproject.toml")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_contracts_are_kept():
    result = run_lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_domain_module_importing_a_blueprint_breaks_the_contracts(tmp_path):
    for name in ("app", "workers", "config.py", "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    budget = tmp_path / "app" / "cases" / "budget.py"
    budget.write_text(budget.read_text() + "\nfrom app.staff import routes  # noqa\n")
    result = run_lint_imports(tmp_path)
    assert result.returncode != 0
    assert "app.cases.budget -> app.staff.routes" in result.stdout


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_never_touches_the_request(package):
    offenders = []
    for path in python_files("app", package):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                used = {alias.name for alias in node.names} & REQUEST_GLOBALS
                offenders += [f"{path.relative_to(ROOT)}: flask.{name}" for name in used]
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "flask"
                and node.attr in REQUEST_GLOBALS
            ):
                offenders.append(f"{path.relative_to(ROOT)}: flask.{node.attr}")
    assert offenders == []


def test_project_imports_sit_at_module_top():
    """An import inside a function is a sign of a cycle to cut (STYLE.md, habit 13)."""
    offenders = []
    for path in [*python_files("app"), *python_files("workers")]:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                module = None
                if isinstance(inner, ast.ImportFrom):
                    module = inner.module or ""
                elif isinstance(inner, ast.Import):
                    module = inner.names[0].name
                if module is not None and module.split(".")[0] in ("app", "workers", "config"):
                    offenders.append(f"{path.relative_to(ROOT)}:{inner.lineno} {module}")
    assert offenders == []
