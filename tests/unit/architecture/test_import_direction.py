"""Dependencies point one way: gcp_domain <- gcp_app <- gcp_adapters.

Read from the source with `ast`, so a forbidden import is caught even in a module no test
happens to import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"
STDLIB = frozenset(sys.stdlib_module_names)


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def imports_of(package: str) -> dict[str, set[str]]:
    """The modules imported by each file of `package`, keyed by its path under src/."""
    return {
        path.relative_to(SRC).as_posix(): imported_modules(path.read_text())
        for path in sorted((SRC / package).rglob("*.py"))
    }


def allowed_in_domain(module: str) -> bool:
    root = module.split(".", maxsplit=1)[0]
    return (
        root in STDLIB
        or root in {"attrs", "gcp_domain", "__future__"}
        or module == "eventsourcing.domain"
    )


def offences(imports: dict[str, set[str]], allowed: object) -> dict[str, list[str]]:
    assert callable(allowed)
    found = {path: sorted(m for m in mods if not allowed(m)) for path, mods in imports.items()}
    return {path: mods for path, mods in found.items() if mods}


def test_the_domain_imports_only_the_standard_library_attrs_and_eventsourcing_domain() -> None:
    imports = {
        path: mods
        for path, mods in imports_of("gcp_domain").items()
        if not path.startswith("gcp_domain/testing/")
    }
    assert offences(imports, allowed_in_domain) == {}


def test_the_lifecycle_harness_adds_only_hypothesis_to_what_the_domain_may_import() -> None:
    harness = {
        path: mods
        for path, mods in imports_of("gcp_domain").items()
        if path.startswith("gcp_domain/testing/")
    }
    assert harness, "the harness package gcp_domain.testing exists"
    assert offences(harness, lambda m: allowed_in_domain(m) or m.startswith("hypothesis")) == {}


@pytest.mark.parametrize("forbidden", ["litestar", "confluent_kafka", "gcp_adapters"])
def test_the_application_knows_no_adapter(forbidden: str) -> None:
    imports = imports_of("gcp_app")
    assert offences(imports, lambda m: m.split(".")[0] != forbidden) == {}


def test_the_checker_reports_a_forbidden_import() -> None:
    """The checks above can fail: planted imports of psycopg and eventsourcing.postgres show."""
    planted = imported_modules("import psycopg\nfrom eventsourcing.postgres import Factory\n")
    assert offences({"planted.py": planted}, allowed_in_domain) == {
        "planted.py": ["eventsourcing.postgres", "psycopg"]
    }
