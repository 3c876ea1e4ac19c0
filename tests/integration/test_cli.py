"""The `gcp` command on SQLite and PostgreSQL: what an operator types and sees."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from pathlib import Path

import jwt
import pytest

from gcp_adapters.bootstrap import build_application
from gcp_adapters.cli.main import main
from gcp_app.settings import Settings
from gcp_domain import Cause
from gcp_domain.numbers import CertificateNumber


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def operator_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The environment an operator's shell would have: a var dir and a database URL."""
    url = (
        f"sqlite:///{tmp_path / 'var' / 'gcp.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    monkeypatch.setenv("GCP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GCP_DATABASE_URL", url)
    return tmp_path


def test_pool_generate_shows_progress_and_the_levels(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pool", "generate", "--pool", "default", "--count", "2500"]) == 0
    out, err = capsys.readouterr()
    assert "2500/2500 100%" in err  # the progress bar reached the end
    assert "default: available 2500, reserved 0, issued 0" in out


def test_pool_status_reports_every_pool_as_json(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pool", "generate", "--pool", "web", "--count", "30"]) == 0
    assert main(["pool", "generate", "--pool", "pos", "--count", "20"]) == 0
    capsys.readouterr()
    assert main(["pool", "status", "--json"]) == 0
    levels = {p["pool"]: p for p in json.loads(capsys.readouterr().out)}
    assert levels["web"]["available"] == 30
    assert levels["pos"] == {
        "pool": "pos",
        "available": 20,
        "reserved": 0,
        "issued": 0,
        "cancelled": 0,
        "lowWatermark": 100,
    }


def test_pool_import_loads_a_vendor_file(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = [CertificateNumber.from_body(f"{700000000000000 + i}").value for i in range(3)]
    vendor = operator_env / "vendor.csv"
    vendor.write_text("number,cvc\n" + "".join(f"{n},{123 + i}\n" for i, n in enumerate(numbers)))
    assert main(["pool", "import", str(vendor), "--pool", "vendor"]) == 0
    assert "imported 3 certificates into vendor" in capsys.readouterr().out
    assert main(["certificate", "show", numbers[1]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["number"], shown["status"], shown["state"]) == (
        numbers[1],
        "CREATED",
        "AVAILABLE",
    )


def test_a_bad_vendor_file_is_refused_whole_with_its_lines(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = CertificateNumber.from_body("700000000000001").value
    vendor = operator_env / "vendor.csv"
    vendor.write_text(f"number,cvc\n{good},5551\n1234567890123456,5552\n{good},5553\n")
    assert main(["pool", "import", str(vendor), "--pool", "vendor"]) == 2
    err = capsys.readouterr().err
    assert "line 3:" in err
    assert "line 4: the number repeats line 2" in err
    assert "5552" not in err
    assert "5553" not in err
    assert main(["pool", "status", "--pool", "vendor"]) == 2  # the pool was never created


def test_certificate_history_and_audit_at_a_version(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    number = CertificateNumber.from_body("700000000000002").value
    vendor = operator_env / "vendor.csv"
    vendor.write_text(f"number,cvc\n{number},4321\n")
    assert main(["pool", "import", str(vendor)]) == 0
    capsys.readouterr()
    assert main(["certificate", "history", number]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [e["event"] for e in history] == ["Created"]
    assert history[0]["actor"].startswith("cli:")
    assert "4321" not in json.dumps(history)
    assert main(["certificate", "at", number, "--version", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "AVAILABLE"


def test_an_unknown_certificate_is_a_clear_refusal(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certificate", "show", CertificateNumber.from_body("700000000000003").value]) == 2
    assert "no certificate" in capsys.readouterr().err


def serve_until_sigterm(args: list[str], after: float = 1.0) -> int:
    """Runs `gcp serve` in this process and sends it SIGTERM `after` seconds in."""
    timer = threading.Timer(after, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        return main(["serve", *args])
    finally:
        timer.cancel()


def test_serve_stocks_the_pool_runs_and_stops_on_sigterm(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve_until_sigterm(["--stock", "150", "--only", "timers"]) == 0
    out = capsys.readouterr().out
    assert "default: available 150" in out
    assert "ready: running timers" in out
    assert "stopping: finishing what is in flight" in out
    # Already stocked: nothing more is generated.
    assert serve_until_sigterm(["--stock", "150", "--only", "timers"]) == 0
    assert "default: available 150" in capsys.readouterr().out


@pytest.fixture
def newcomer_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A newcomer's shell: the embedded defaults (no GCP_DATABASE_URL), a var dir of its own."""
    monkeypatch.setenv("GCP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("GCP_DATABASE_URL", raising=False)
    return tmp_path


def test_on_the_embedded_defaults_serve_stocks_an_empty_default_pool(
    newcomer_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve_until_sigterm(["--only", "timers"]) == 0
    assert "default: available 1000" in capsys.readouterr().out


def test_serve_never_tops_up_a_pool_that_had_certificates(
    newcomer_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11, item 7: after `gcp pool generate --count 5` a pool held 1,000."""
    assert main(["pool", "generate", "--count", "5"]) == 0
    assert serve_until_sigterm(["--only", "timers"]) == 0
    assert "default: available 5," in capsys.readouterr().out


def test_with_a_configured_database_serve_creates_no_certificate(
    newcomer_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GCP_DATABASE_URL", f"sqlite:///{newcomer_env / 'production.sqlite'}")
    assert serve_until_sigterm(["--only", "timers"]) == 0
    assert "available" not in capsys.readouterr().out
    assert main(["pool", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_one_kafka_part_alone_needs_a_configured_broker(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--stock", "0", "--only", "consumers"]) == 2
    assert "GCP_KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err


def test_bad_configuration_is_reported_not_raised(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GCP_DATABASE_URL", "mysql://nowhere/db")
    assert main(["pool", "status"]) == 2
    assert "GCP_DATABASE_URL" in capsys.readouterr().err


def test_token_prints_a_bearer_token_with_the_roles(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "cli-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdef"
    monkeypatch.setenv("GCP_JWT_SECRET", secret)
    assert main(["token", "--role", "crm", "--role", "support", "--sub", "crm-1"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["sub"] == "crm-1"
    assert claims["roles"] == ["crm", "support"]
    assert 3500 < claims["exp"] - claims["iat"] <= 3600


def test_token_refuses_an_unknown_role(operator_env: Path) -> None:
    with pytest.raises(SystemExit):
        main(["token", "--role", "root", "--sub", "x"])


def test_serve_runs_the_http_api_and_prints_development_tokens(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GCP_HTTP_PORT", "0")
    assert serve_until_sigterm(["--stock", "20", "--only", "http", "--only", "timers"]) == 0
    out = capsys.readouterr().out
    assert "http: http://127.0.0.1:" in out
    assert "ready: running http, timers" in out
    secret = (operator_env / "var" / "jwt.secret").read_text().strip()
    for role in ("channel", "crm", "support", "admin"):
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{role}: "))
        claims = jwt.decode(line.rsplit(" ", 1)[1], secret, algorithms=["HS256"])
        assert (claims["sub"], claims["roles"]) == (f"dev-{role}", [role])


def test_serve_prints_no_tokens_on_a_configured_secret(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GCP_HTTP_PORT", "0")
    monkeypatch.setenv("GCP_JWT_SECRET", "configured-0123456789abcdefghijklmnopqrstuvwxyz")
    assert serve_until_sigterm(["--stock", "0", "--only", "http"]) == 0
    out = capsys.readouterr().out
    assert "http: http://127.0.0.1:" in out
    assert "Bearer" not in out


# ---------------------------------------------------------------------- a newcomer's mistakes
# (issue 11, item 9): a clear one-line refusal with exit status 2, never a traceback


def test_importing_a_missing_file_is_a_clear_refusal(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pool", "import", str(operator_env / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err
    assert "missing.csv" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["pool", "generate", "--count", "-5"], "-5 is not 1 or more"),
        (["pool", "generate", "--count", "many"], "'many' is not a whole number"),
        (["certificate", "at", "x", "--at", "yesterday"], "'yesterday' is not an RFC 3339"),
        (["certificate", "at", "x", "--at", "2026-11-26T10:00:00"], "needs its offset"),
        (["certificate", "at", "x", "--version", "0"], "0 is not 1 or more"),
        (["pool", "generate", "--count", "1", "--low-watermark", "-1"], "-1 is not 0 or more"),
        (["token", "--role", "crm", "--sub", "x", "--ttl", "0"], "0 is not 1 or more"),
        (["stream", "republish", "--from", "0"], "0 is not 1 or more"),
    ],
)
def test_a_bad_argument_is_refused_by_the_parser_with_status_2(
    operator_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err


def test_a_version_beyond_the_history_is_refused_not_answered_with_the_last(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pool", "generate", "--count", "1"]) == 0
    app = build_application(Settings.from_env())
    try:
        cause = Cause("channel:web", "req-1", "WEB-1")
        granted = app.reservations.reserve_next("default", channel="WEB", cause=cause)
    finally:
        app.close()
    capsys.readouterr()
    assert main(["certificate", "at", str(granted.certificate_id), "--version", "99"]) == 2
    assert "--version 99: the certificate has 2 versions" in capsys.readouterr().err
    assert main(["certificate", "at", str(granted.certificate_id), "--version", "2"]) == 0


def test_pool_generate_gives_a_new_pool_its_low_watermark(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["pool", "generate", "--pool", "small", "--count", "3", "--low-watermark", "5"]) == 0
    )
    assert (
        main(["pool", "generate", "--pool", "small", "--count", "1", "--low-watermark", "9"]) == 0
    )
    capsys.readouterr()
    assert main(["pool", "status", "--pool", "small", "--json"]) == 0
    [small] = json.loads(capsys.readouterr().out)
    assert (small["available"], small["lowWatermark"]) == (4, 5)  # set once, at creation


def test_serve_with_a_broker_that_does_not_answer_says_so_and_stays_quiet(
    operator_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 11: `gcp serve --only consumers` printed "ready" and then 178 lines in 5 s."""
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("GCP_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    caplog.set_level(logging.DEBUG, logger="gcp.kafka")

    assert serve_until_sigterm(["--only", "consumers"], after=5.0) == 0

    out = capsys.readouterr().out
    assert (
        f"started: running consumers; the Kafka broker at 127.0.0.1:{port} does not answer" in out
    )
    assert "ready:" not in out
    complaints = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(complaints) <= 3, [r.getMessage() for r in complaints]


def test_serve_on_a_port_in_use_says_so_without_a_traceback(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("GCP_HTTP_PORT", str(port))
        monkeypatch.setenv("GCP_JWT_SECRET", "cli-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123")

        assert main(["serve", "--only", "http"]) == 1

    captured = capsys.readouterr()
    assert f"gcp: the service could not start on 127.0.0.1:{port}" in captured.err
    assert "Traceback" not in captured.out + captured.err
    assert "ready:" not in captured.out
