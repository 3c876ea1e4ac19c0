"""`dbt build` of the marts, in this process, through dbt's Python API (dbtRunner).

The dbt project ships inside the package (dbt_project/); what dbt writes (target/, logs/, the
partial-parse cache) and the profile this module writes go under <marts file's dir>/dbt/, never
into the package. The profile is dbt-duckdb's: the marts file (GCP_BI_DATABASE) with the
landing file attached read-only as `landing_db`. No telemetry: DO_NOT_TRACK and dbt's
send_anonymous_usage_stats are set off before dbt is imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

import attrs

PROJECT_DIR: Final = Path(__file__).parent / "dbt_project"
PROFILE: Final = "gcp_bi"
THREADS: Final = 2


@attrs.frozen
class Failure:
    node: str
    status: str
    message: str


@attrs.frozen
class BuildResult:
    success: bool
    models: int
    tests: int
    failures: tuple[Failure, ...]


def _quiet_telemetry() -> None:
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"


def write_profile(directory: Path, marts: Path, landing: Path) -> Path:
    """profiles.yml for dbt-duckdb (JSON is YAML): the marts file, the landing attached."""
    directory.mkdir(parents=True, exist_ok=True)
    profile = {
        PROFILE: {
            "target": "local",
            "outputs": {
                "local": {
                    "type": "duckdb",
                    "path": str(marts.resolve()),
                    "schema": "marts",
                    "threads": THREADS,
                    "attach": [
                        {"path": str(landing.resolve()), "alias": "landing_db", "read_only": True}
                    ],
                }
            },
        }
    }
    path = directory / "profiles.yml"
    path.write_text(json.dumps(profile, indent=2), encoding="utf-8")
    return path


def dbt_build(
    marts: Path, landing: Path, topics: dict[str, str], *, quiet: bool = True
) -> BuildResult:
    """Runs `dbt build` (models and their tests) and says what failed, if anything."""
    _quiet_telemetry()
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - after the telemetry switches

    work = marts.resolve().parent / "dbt"
    write_profile(work, marts, landing)
    arguments = [
        "build",
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(work),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps(topics),
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
    ]
    if quiet:
        arguments.append("--quiet")
    try:
        outcome = dbtRunner().invoke(arguments)
    finally:
        _release_database()
    return _summarise(outcome)


def _release_database() -> None:
    """dbt-duckdb keeps its DuckDB instance open in the process after a run; close it, so that
    this process (the report, the reconciliation, the next landing) can open the files again."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager  # noqa: PLC0415

    manager: Any = DuckDBConnectionManager  # untyped, and no public way to close it
    environment = getattr(manager, "_ENV", None)
    if environment is not None:
        environment.close()
    manager.close_all_connections()


def _summarise(outcome: Any) -> BuildResult:
    results = list(getattr(outcome.result, "results", None) or [])
    failures = tuple(
        Failure(
            node=str(result.node.unique_id),
            status=str(result.status),
            message=str(result.message or ""),
        )
        for result in results
        if str(result.status) in ("error", "fail", "skipped", "runtime error")
    )
    if outcome.exception is not None:
        failures += (Failure("dbt", "error", str(outcome.exception)),)
    kinds = [str(result.node.resource_type) for result in results]
    return BuildResult(
        success=bool(outcome.success) and not failures,
        models=sum(kind == "model" for kind in kinds),
        tests=sum(kind == "test" for kind in kinds),
        failures=failures,
    )
