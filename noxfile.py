"""Developer and CI sessions. `nox` alone runs tests, lint and typecheck."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Every tier: unit, integration (SQLite and PostgreSQL), the lifecycle harness."""
    session.install("-e", ".[dev]")
    session.run(
        "pytest",
        "--junitxml=var/junit.xml",
        # Both cores: much of the suite waits on subprocesses, brokers and timeouts (9 min in
        # one process, 5 in two on a 2-core host). Each test has its own schema, broker and
        # ports, so the workers share nothing; `nox -- -n 0` runs it in one process.
        "--numprocesses=auto",
        "--maxprocesses=4",
        "--dist=worksteal",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "ci"},
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "bench", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Every figure of docs/performance.md on this machine: naive, pipeline, ceiling, HTTP, BI,
    end to end, start-up and soak.

    Not a default session (minutes long; needs PostgreSQL, GCP_BENCH_POSTGRES, default
    postgresql://postgres@127.0.0.1:5432/postgres). `nox -s bench -- --json PATH` also writes
    every figure to PATH; `-- --messages N` sizes the pipeline run (default 100000),
    `-- --soak-operations N` the soak (default 200000); `-- --bi-only` runs BI's landing and
    build alone (no PostgreSQL; `--bi-messages N`); `--no-http`, `--http-only`, `--e2e-only`,
    `--startup-only`, `--soak-only` run one part (`python -m bench --help`).
    """
    session.install("-e", ".[bi]")
    session.run("python", "-m", "bench", *session.posargs)
