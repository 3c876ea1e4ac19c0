"""The landing: every message of the four topics once, whatever is redelivered or killed.

The offsets landed are stored in the batch's own transaction and are where the ingest resumes,
not Kafka's committed offsets; a message that is not a JSON object is landed, flagged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from confluent_kafka import Consumer, TopicPartition
from tests.integration.bi.conftest import TOPICS, produce

from gcp_adapters.bi.ingest import Ingest
from gcp_adapters.bi.landing import Batch, Landing
from gcp_adapters.kafka.mock_cluster import MockCluster


def _landed(path: Path) -> list[tuple[str, int, int, str | None]]:
    db = duckdb.connect(str(path), read_only=True)
    try:
        rows = db.execute(
            "SELECT topic, kafka_partition, kafka_offset, value FROM landing.messages"
        ).fetchall()
    finally:
        db.close()
    return [(t, p, o, v) for t, p, o, v in rows]


def _catch_up(bootstrap: str, path: Path, group: str = "gcp-bi") -> int:
    with Landing(path) as landing:
        ingest = Ingest(bootstrap, TOPICS, group, landing)
        try:
            return ingest.catch_up()
        finally:
            ingest.close()


def test_a_redelivered_batch_is_landed_once_and_bad_values_are_flagged(tmp_path: Path) -> None:
    first, again = Batch(), Batch()
    for offset in range(10):
        first.append("All_Payments", 0, offset, b"k", b'{"messageId": "a"}')
    for offset in range(5, 15):  # a redelivery of 5..9 (after a rebalance), then 10..14
        again.append("All_Payments", 0, offset, b"k", b'{"messageId": "a"}')
    bad = Batch()
    for offset, value in enumerate([b"\xff\xfe", None, b"[1, 2]", b"{broken", b" {}"]):
        bad.append("All_Clients", 1, offset, None, value)
    with Landing(tmp_path / "marts-landing.duckdb") as landing:
        assert landing.land(first) == 10
        assert landing.land(again) == 5
        assert landing.land(first) == 0
        assert landing.land(bad) == 5
        assert landing.offsets() == {("All_Payments", 0): 14, ("All_Clients", 1): 4}
        assert landing.count("All_Payments") == 15
        assert landing.problems() == [
            ("All_Clients", 1, 0, "value is not UTF-8"),
            ("All_Clients", 1, 1, "no value (tombstone)"),
            ("All_Clients", 1, 2, "value is not a JSON object"),
            ("All_Clients", 1, 3, "value is not JSON"),
        ]
    rows = _landed(tmp_path / "marts-landing.duckdb")
    assert sorted((t, p, o) for t, p, o, _ in rows if t == "All_Payments") == [
        ("All_Payments", 0, offset) for offset in range(15)
    ]


def test_the_ingest_resumes_from_its_landed_offsets_not_from_kafkas(
    cluster: MockCluster, tmp_path: Path
) -> None:
    bootstrap = cluster.bootstrap_servers
    path = tmp_path / "marts-landing.duckdb"
    sent = produce(bootstrap, 200)
    assert _catch_up(bootstrap, path) == 200
    # Kafka's committed offsets of the group rewound to the start: they are not what counts.
    rewind = Consumer({"bootstrap.servers": bootstrap, "group.id": "gcp-bi"})
    rewind.commit(
        offsets=[TopicPartition(t, p, 0) for t in TOPICS for p in range(3)], asynchronous=False
    )
    rewind.close()
    assert _catch_up(bootstrap, path) == 0
    sent += produce(bootstrap, 50, start=200)
    assert _catch_up(bootstrap, path) == 50
    landed = _landed(path)
    assert len(landed) == 250
    assert sorted((t, v.encode()) for t, _, _, v in landed if v) == sorted(sent)
    with Landing(path) as landing:
        headers = landing._db.execute(  # one message's headers, as JSON text
            "SELECT headers FROM landing.messages WHERE value LIKE '%\"m-7\"%'"
        ).fetchone()
    assert headers == ('{"n": "7"}',)


def _environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """Ours without any GCP_* setting, then `settings`; this process's import path."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GCP_")}
    env.update(GCP_VAR_DIR=str(tmp_path / "var"), PYTHONPATH=os.pathsep.join(sys.path), **settings)
    return env


_CHILD = """
import sys
from pathlib import Path
from gcp_adapters.bi.ingest import Ingest
from gcp_adapters.bi.landing import Landing
with Landing(Path(sys.argv[2])) as landing:
    ingest = Ingest(sys.argv[1], sys.argv[3].split(","), "gcp-bi", landing, batch_size=300)
    ingest.assign_new_partitions()
    while True:
        if ingest.land_once(0.5):
            print("landed", ingest.landed, flush=True)
"""


def test_killed_mid_landing_then_restarted_each_message_is_landed_once(
    cluster: MockCluster, tmp_path: Path
) -> None:
    bootstrap = cluster.bootstrap_servers
    path = tmp_path / "marts-landing.duckdb"
    sent = produce(bootstrap, 12_000)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, bootstrap, str(path), ",".join(TOPICS)],
        stdout=subprocess.PIPE,
        text=True,
        env=_environment(tmp_path),
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    landed_before_kill = 0
    for line in child.stdout:
        landed_before_kill = int(line.split()[1])
        if landed_before_kill >= 3000 or time.monotonic() > deadline:
            break
    child.send_signal(signal.SIGKILL)  # no goodbye: mid-batch, maybe mid-transaction
    child.wait(10)
    assert 3000 <= landed_before_kill < 12_000

    survived = len(_landed(path))  # whole batches: each one's rows with its offsets, or none
    assert survived >= landed_before_kill
    assert _catch_up(bootstrap, path) == 12_000 - survived
    landed = _landed(path)
    keys = [(t, p, o) for t, p, o, _ in landed]
    assert len(keys) == len(set(keys)) == 12_000
    assert sorted((t, v.encode()) for t, _, _, v in landed if v) == sorted(sent)


def test_bi_run_lands_until_sigterm_and_stops_cleanly(cluster: MockCluster, tmp_path: Path) -> None:
    bootstrap = cluster.bootstrap_servers
    marts = tmp_path / "bi" / "marts.duckdb"
    env = _environment(
        tmp_path,
        GCP_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        GCP_BI_DATABASE=str(marts),
        GCP_BI_BUILD_SECONDS="3600",  # no build within the test: landing only
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "gcp_adapters.cli.main", "bi", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first.startswith("bi: landing from"), first
    produce(bootstrap, 3000)
    time.sleep(2)  # some landed, maybe all: either way each message exactly once below
    child.send_signal(signal.SIGTERM)
    rest, _ = child.communicate(timeout=30)
    assert child.returncode == 0, rest
    assert "bi: stopping (SIGTERM)" in rest
    assert rest.rstrip().endswith("bi: stopped"), rest
    landing = marts.with_name("marts-landing.duckdb")
    survived = len(_landed(landing))
    assert survived > 0
    assert _catch_up(bootstrap, landing) == 3000 - survived
    assert len(_landed(landing)) == 3000


def test_bi_build_without_a_broker_says_so_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gcp_adapters.cli.main", "bi", "build"],
        capture_output=True,
        text=True,
        env=_environment(tmp_path),
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("gcp bi: configuration: no Kafka address")
