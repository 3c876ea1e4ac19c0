"""`gcp serve` on the embedded defaults, `gcp demo`, then `gcp bi build`, `reconcile`, `report`.

What a newcomer does (README, "BI"): no database URL, no Kafka address; BI finds the embedded
broker of the running service. Every mart must equal what the test computes on its own from
the four topics' messages (tests/bi_reference.py), the numbers must tell the demo's story, the
marts must reconcile with the event store (and a tampered copy must not), and the report must
open from disk with its charts and CSVs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
from tests.bi_reference import Reference, assert_marts_match, read_topics
from tests.cli_runs import free_port, run_gcp


def _one(db: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = db.execute(sql).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_from_a_running_gcp_to_a_reconciled_report(kit: Any, tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("GCP_")}
    port = free_port()
    env.update(PYTHONUNBUFFERED="1", GCP_HTTP_PORT=str(port), GCP_TIMER_INTERVAL_SECONDS="1")
    service = kit.ServiceProcess(env, tmp_path, "--stock", "20")
    try:
        service.wait_ready()
        bootstrap = next(line.split()[1] for line in service.lines if line.startswith("kafka:"))
        demo = run_gcp(env, tmp_path, "demo", "--url", f"http://127.0.0.1:{port}")
        assert demo.returncode == 0, f"{demo.stdout}\n{demo.stderr}\n{service.describe()}"

        built = run_gcp(env, tmp_path, "bi", "build")
        assert built.returncode == 0, f"{built.stdout}\n{built.stderr}"
        assert "tests passed" in built.stdout, built.stdout
        marts = tmp_path / "var" / "bi" / "marts.duckdb"
        assert_marts_match(marts, Reference(read_topics(bootstrap)))

        _check_the_demos_story(marts)
        _check_reconciliation(env, tmp_path, marts)
        _check_report(env, tmp_path)
    finally:
        code = service.stop()
    assert code == 0, service.describe()


def _check_the_demos_story(marts: Path) -> None:
    """Three certificates sold: one redeemed in two steps, one refunded, one locked and unlocked
    and still holding its 5000.00; a fourth reserved from the small pool, which then ran low
    and blocked a sale."""
    db = duckdb.connect(str(marts), read_only=True)
    db.execute("SET search_path = 'marts'")
    try:
        assert _one(db, "SELECT sum(certificates) FROM issuance_daily") == 3
        assert str(_one(db, "SELECT sum(amount) FROM issuance_daily")) == "15000.0000"
        last = _one(
            db,
            "SELECT issued, redeemed, refunded, closing_balance, outstanding_certificates "
            "FROM liability_daily ORDER BY day DESC LIMIT 1",
        )
        assert [str(v) for v in last] == [
            "15000.0000", "5000.0000", "5000.0000", "5000.0000", "1",
        ]  # fmt: skip
        kinds = db.execute("SELECT kind, count(*) FROM redemptions GROUP BY ALL").fetchall()
        assert dict(kinds) == {"REDEMPTION": 2}
        events = db.execute("SELECT pool, status FROM pool_events ORDER BY occurred_at").fetchall()
        by_pool: dict[str, list[str]] = {}
        for pool, status in events:
            by_pool.setdefault("small" if pool.startswith("demo-small") else pool, []).append(
                status
            )
        # The small pool (low watermark 1) runs low, then dry; the default pool, stocked with
        # 20 under its watermark of 100, runs low at its first reservation.
        assert by_pool == {"small": ["POOL_LOW", "ISSUE_BLOCKED"], "default": ["POOL_LOW"]}
        assert _one(db, "SELECT sum(sent) FROM notifications_daily") >= 1
        assert _one(db, "SELECT count(*) FROM rejected_messages") == 0
    finally:
        db.close()


def _check_reconciliation(env: dict[str, str], cwd: Path, marts: Path) -> None:
    reconciled = run_gcp(env, cwd, "bi", "reconcile")
    assert reconciled.returncode == 0, f"{reconciled.stdout}\n{reconciled.stderr}"
    assert "bi: RUB: marts 5000.0000" in reconciled.stdout, reconciled.stdout
    assert "reconciled: 4 certificates agree" in reconciled.stdout, reconciled.stdout

    # A copy of the marts that owes 1.00 more on the locked certificate must not reconcile.
    tampered = cwd / "tampered" / "marts.duckdb"
    tampered.parent.mkdir()
    shutil.copy(marts, tampered)
    db = duckdb.connect(str(tampered))
    locked = _one(
        db,
        "UPDATE marts.marts.certificate_history "
        "SET outstanding_balance = outstanding_balance + 1 "
        "WHERE is_current AND outstanding_balance > 0 RETURNING certificate_id",
    )
    db.close()
    differs = run_gcp({**env, "GCP_BI_DATABASE": str(tampered)}, cwd, "bi", "reconcile")
    assert differs.returncode == 1, differs.stdout
    said = f"differs: certificate {locked} (RUB): marts 5001.0000, event store 5000.00"
    assert said in differs.stdout, differs.stdout


def _check_report(env: dict[str, str], cwd: Path) -> None:
    reported = run_gcp(env, cwd, "bi", "report", "--out", "report")
    assert reported.returncode == 0, f"{reported.stdout}\n{reported.stderr}"
    out = cwd / "report"
    page = (out / "index.html").read_text(encoding="utf-8")
    for chart in ("liability", "issuance", "redemptions", "breakage", "notifications"):
        assert (out / f"{chart}.png").read_bytes().startswith(b"\x89PNG")
        assert (out / f"{chart}.svg").read_text(encoding="utf-8").startswith("<svg")
    assert (out / "pool_events.png").stat().st_size > 1000
    assert page.count("data:image/png;base64,") == 6
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    csv = (out / "liability_daily.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0].startswith("day,currency,opening_balance,issued,redeemed,reversed")
    assert csv[-1].split(",")[9] == "5000.0000"  # closing_balance
    for table in ("certificate_history", "redemptions", "tender_mix", "pool_events"):
        assert (out / f"{table}.csv").exists()
