"""`gcp bi` is optional: the `gcp` command works without the `bi` extra, and says what to
install when a `gcp bi` command runs without it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gcp_adapters.bi import command
from gcp_adapters.cli.main import main

EXTRA_MODULES = ("duckdb", "pyarrow", "dbt", "altair", "vl_convert")


def test_the_gcp_command_imports_none_of_the_bi_extra() -> None:
    probe = (
        "import sys, gcp_adapters.cli.main\n"
        f"print([m for m in {EXTRA_MODULES!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_without_the_extra_a_bi_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(command, "EXTRA", ("gcp_no_such_module",))
    code = main(["bi", "report", "--out", "x"])
    assert code == 2
    said = capsys.readouterr().err
    assert said == (
        "gcp bi: gcp bi needs the bi extra (gcp_no_such_module is missing): pip install 'gcp[bi]'\n"
    )
