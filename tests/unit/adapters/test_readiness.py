"""/health/ready's answer: a failing check is named, and a NotReady's reason is shown."""

from __future__ import annotations

from gcp_adapters.http.health import NotReady, not_stalled, run_checks


def _failing() -> None:
    raise RuntimeError("connection to db.internal:5432 refused: password for admin")


def test_every_check_ok_is_ready_with_no_reasons() -> None:
    answer = run_checks({"store": lambda: None, "relay": not_stalled(lambda: None)})
    assert (answer.status, answer.checks, answer.reasons) == (
        "ok",
        {"store": "ok", "relay": "ok"},
        None,
    )


def test_a_stalled_part_is_unavailable_and_says_why() -> None:
    stalled = not_stalled(lambda: "nothing published for 42 s after notification 7")
    answer = run_checks({"store": lambda: None, "relay": stalled})
    assert answer.status == "unavailable"
    assert answer.checks == {"store": "ok", "relay": "failing"}
    assert answer.reasons == {"relay": "nothing published for 42 s after notification 7"}


def test_an_unexpected_error_is_named_but_its_text_is_not_shown() -> None:
    def raises_not_ready() -> None:
        raise NotReady("inbound batches failing for 31 s")

    answer = run_checks({"store": _failing, "consumer": raises_not_ready})
    assert answer.checks == {"store": "failing", "consumer": "failing"}
    assert answer.reasons == {"consumer": "inbound batches failing for 31 s"}
