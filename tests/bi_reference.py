"""BI's marts computed in plain Python from the topics' messages, to check the dbt models.

Written apart from the SQL on purpose, and differently where it can be: the liability is the
sum, at each day's end, of what every certificate holds (replaying the publications in time
order), not a running sum of movements; the movements are read off the balances and the
operations. Money is Decimal throughout.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

STREAM, SALES, PAYMENTS, CLIENTS = (
    "GiftCertificates.Stream",
    "All_SalesOrder",
    "All_Payments",
    "All_Clients",
)
TOPICS = (STREAM, SALES, PAYMENTS, CLIENTS)
ZERO = Decimal(0)
OWING = ("ACTIVE", "REFUND_PENDING")
Json = dict[str, Any]


def read_topics(bootstrap: str, topics: Iterable[str] = TOPICS, timeout: float = 30) -> list:
    """Every message of `topics` now, as (topic, value bytes), read from the beginning."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bi-reference", "enable.auto.commit": False}
    )
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        ]
        listed = admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions})
        ends = {(tp.topic, tp.partition): f.result().offset for tp, f in listed.items()}
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
        seen: dict[tuple[str, int], int] = {}
        read: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while any(seen.get(key, 0) < end for key, end in ends.items()):
            assert time.monotonic() < deadline, f"not at the ends {ends} in {timeout} s: {seen}"
            for message in consumer.consume(1000, 0.2):
                if message.error() is None:
                    read.append((message.topic(), message.value()))
                    seen[(message.topic(), message.partition())] = message.offset() + 1
        return read
    finally:
        consumer.close()


def _day(moment: str) -> date:
    return _instant(moment).date()


def _instant(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).replace(tzinfo=None)


def _money(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


class Reference:
    """The marts, from messages (topic, value) as they were delivered (duplicates included)."""

    def __init__(self, messages: Iterable[tuple[str, bytes]]) -> None:
        self.stream: dict[str, Json] = {}
        self.inbound: dict[str, dict[str, Json]] = {SALES: {}, PAYMENTS: {}, CLIENTS: {}}
        for topic, raw in messages:
            try:
                value = json.loads(raw)
            except (TypeError, ValueError):
                continue
            if not isinstance(value, dict):
                continue
            if topic == STREAM and value.get("eventId"):
                self.stream.setdefault(value["eventId"], value)
            elif topic in self.inbound and value.get("messageId"):
                self.inbound[topic].setdefault(value["messageId"], value)
        by_certificate: dict[str, list[Json]] = defaultdict(list)
        for value in self.stream.values():
            if value.get("certificateId"):
                by_certificate[value["certificateId"]].append(value)
        self.certificates = {
            cid: sorted(values, key=lambda v: v["version"])
            for cid, values in by_certificate.items()
        }

    # ------------------------------------------------------------------ per certificate

    @staticmethod
    def _owed(publication: Json, working: str | None) -> Decimal:
        return _money(publication["remainingBalance"]) if working in OWING else ZERO

    def timeline(self, certificate_id: str) -> list[tuple[Json, Decimal]]:
        """The certificate's publications, each with what was owed on it right after."""
        working = None
        result = []
        for publication in self.certificates[certificate_id]:
            if publication["state"] != "LOCKED":
                working = publication["state"]
            result.append((publication, self._owed(publication, working)))
        return result

    def movements(self) -> list[tuple[Json, str, Decimal]]:
        """(publication, kind, amount) of every money movement, read off the operations and
        the balances: an issue's amount, a redemption's or a reversal's operation amount, and
        for a refund, an expiry or a cancellation what was owed just before."""
        result = []
        for certificate_id in self.certificates:
            before = ZERO
            for publication, owed in self.timeline(certificate_id):
                operation = publication.get("operation") or {}
                kind = {
                    "ISSUE": "issued",
                    "REDEMPTION": "redeemed",
                    "REDEMPTION_REVERSAL": "reversed",
                }.get(operation.get("type", ""))
                if kind:
                    result.append((publication, kind, _money(operation["amount"])))
                elif publication["status"] in ("REFUNDED", "EXPIRED", "CANCELLED"):
                    kind = publication["status"].lower().replace("refunded", "refunded")
                    kind = {"REFUNDED": "refunded", "EXPIRED": "expired"}.get(
                        publication["status"], "cancelled"
                    )
                    result.append((publication, kind, before - owed))
                before = owed
        return result

    # ------------------------------------------------------------------ marts

    def liability_daily(self) -> dict[tuple[date, str], dict[str, Any]]:
        events = sorted(
            (
                (_instant(p["occurredAt"]), cid, p["version"], p["currency"], owed)
                for cid in self.certificates
                for p, owed in self.timeline(cid)
            ),
            key=lambda e: (e[0], e[1], e[2]),
        )
        issues = [p for p, kind, _ in self.movements() if kind == "issued"]
        if not issues:
            return {}
        first_by_currency: dict[str, date] = {}
        for p in issues:
            day = _day(p["occurredAt"])
            first_by_currency[p["currency"]] = min(day, first_by_currency.get(p["currency"], day))
        last = max(_day(v["occurredAt"]) for v in self._all_values() if v.get("occurredAt"))
        flows: dict[tuple[date, str], dict[str, Decimal]] = defaultdict(
            lambda: defaultdict(Decimal)
        )
        for p, kind, amount in self.movements():
            flows[(_day(p["occurredAt"]), p["currency"])][kind] += amount
        held: dict[str, tuple[str, Decimal]] = {}
        result = {}
        index = 0
        day = min(first_by_currency.values())
        while day <= last:
            while index < len(events) and events[index][0].date() <= day:
                _, cid, _, currency, owed = events[index]
                held[cid] = (currency, owed)
                index += 1
            for currency, first in first_by_currency.items():
                if day < first:
                    continue
                holding = [owed for c, owed in held.values() if c == currency]
                flow = flows.get((day, currency), {})
                result[(day, currency)] = {
                    "closing_balance": sum(holding, ZERO),
                    "outstanding_certificates": sum(1 for owed in holding if owed > 0),
                    **{
                        kind: flow.get(kind, ZERO)
                        for kind in ("issued", "redeemed", "reversed", "refunded", "expired",
                                     "cancelled")
                    },
                }  # fmt: skip
            day += timedelta(days=1)
        return result

    def issuance_daily(self) -> dict[tuple[date, str, str], tuple[int, Decimal]]:
        result: dict[tuple[date, str, str], tuple[int, Decimal]] = {}
        for p in self.stream.values():
            if p["status"] == "ISSUED" and p.get("certificateId"):
                key = (_day(p["occurredAt"]), p["channel"], p["currency"])
                count, amount = result.get(key, (0, ZERO))
                result[key] = (count + 1, amount + _money(p["amount"]))
        return result

    def _orders(self) -> dict[str, list[Json]]:
        orders: dict[str, list[Json]] = defaultdict(list)
        for order in self.inbound[SALES].values():
            orders[order["orderId"]].append(order)
        return {oid: sorted(v, key=lambda o: o["occurredAt"]) for oid, v in orders.items()}

    def redemptions(self) -> set[tuple[str, str, str, Decimal, str | None, str | None]]:
        """(eventId, kind, paymentId, amount, channel, storeId)."""
        orders = {oid: versions[-1] for oid, versions in self._orders().items()}
        kinds = {
            "REDEMPTION": "REDEMPTION",
            "REDEMPTION_REVERSAL": "REVERSAL",
            "REDEMPTION_ATTEMPT": "REJECTED",
        }
        result = set()
        for p in self.stream.values():
            operation = p.get("operation") or {}
            kind = kinds.get(operation.get("type", ""))
            if kind and p.get("certificateId"):
                order = orders.get(operation.get("orderId"), {})
                result.add(
                    (
                        p["eventId"],
                        kind,
                        operation["paymentId"],
                        _money(operation["amount"]),
                        order.get("channel"),
                        order.get("storeId"),
                    )
                )
        return result

    def notifications_daily(self) -> dict[tuple[date, str], tuple[int, int, int]]:
        result: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        columns = {"NOTIFICATION_REQUESTED": 0, "NOTIFICATION_SENT": 1, "NOTIFICATION_FAILED": 2}
        for p in self.stream.values():
            if p["status"] in columns and p.get("certificateId"):
                channel = (p.get("notification") or {}).get("channel") or "UNKNOWN"
                result[(_day(p["occurredAt"]), channel)][columns[p["status"]]] += 1
        return {key: (r[0], r[1], r[2]) for key, r in result.items()}

    def pool_events(self) -> list[tuple[str, str, datetime, str | None]]:
        return sorted(
            (p["pool"], p["status"], _instant(p["occurredAt"]), p.get("reason"))
            for p in self.stream.values()
            if not p.get("certificateId") and p["status"] in ("ISSUE_BLOCKED", "POOL_LOW")
        )

    def tender_mix(self) -> dict[tuple[date, str], tuple[int, Decimal, Decimal]]:
        payments: dict[tuple[str, bool], Json] = {}
        for payment in sorted(self.inbound[PAYMENTS].values(), key=lambda p: p["occurredAt"]):
            payments[(payment["paymentId"], payment["eventType"] == "REDEMPTION")] = payment
        result: dict[tuple[date, str], tuple[int, Decimal, Decimal]] = {}
        for order_id, versions in self._orders().items():
            last = versions[-1]
            if not last.get("redemptions") or last["eventType"] == "ORDER_CANCELLED":
                continue
            paid = [p for p in payments.values() if p["orderId"] == order_id]
            certificate = sum(
                (_money(p["amount"]) for p in paid if p["eventType"] == "REDEMPTION"), ZERO
            )
            other = sum(
                (
                    _money(p["amount"])
                    for p in paid
                    if p["eventType"] in ("PAYMENT_AUTHORIZED", "PAYMENT_CAPTURED")
                    and p.get("method") != "GIFT_CERTIFICATE"
                ),
                ZERO,
            )
            key = (_day(versions[0]["occurredAt"]), last.get("channel") or "UNKNOWN")
            count, cert_total, other_total = result.get(key, (0, ZERO, ZERO))
            result[key] = (count + 1, cert_total + certificate, other_total + other)
        return result

    def breakage_cohorts(self) -> dict[tuple[date, str], dict[str, Any]]:
        result: dict[tuple[date, str], dict[str, Any]] = {}
        kinds_by_certificate: dict[str, dict[str, Decimal]] = defaultdict(
            lambda: defaultdict(Decimal)
        )
        issued_at: dict[str, Json] = {}
        for p, kind, amount in self.movements():
            kinds_by_certificate[p["certificateId"]][kind] += amount
            if kind == "issued":
                issued_at[p["certificateId"]] = p
        for cid, p in issued_at.items():
            issued_day = _day(p["occurredAt"])
            key = (issued_day.replace(day=1), p["currency"])
            flows = kinds_by_certificate[cid]
            row = result.setdefault(
                key,
                {"certificates": 0, "issued_amount": ZERO, "redeemed_amount": ZERO,
                 "refunded_amount": ZERO, "expired_amount": ZERO, "outstanding_amount": ZERO},
            )  # fmt: skip
            row["certificates"] += 1
            row["issued_amount"] += flows["issued"]
            row["redeemed_amount"] += flows["redeemed"] - flows["reversed"]
            row["refunded_amount"] += flows["refunded"]
            row["expired_amount"] += flows["expired"]
            row["outstanding_amount"] += self.timeline(cid)[-1][1]
        return result

    def current_versions(self) -> dict[str, int]:
        return {cid: versions[-1]["version"] for cid, versions in self.certificates.items()}

    def _all_values(self) -> Iterable[Json]:
        yield from self.stream.values()
        for messages in self.inbound.values():
            yield from messages.values()


# ====================================================================== the check


def _query(db: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in db.execute(sql).fetchall()]


def assert_marts_match(marts_path: Any, reference: Reference) -> None:
    """Every mart of the DuckDB file equals what `reference` computed from the messages."""
    import duckdb  # noqa: PLC0415

    db = duckdb.connect(str(marts_path), read_only=True)
    db.execute("SET search_path = 'marts'")
    try:
        _check(db, reference)
    finally:
        db.close()


def _check(db: Any, reference: Reference) -> None:
    liability = {
        (day, currency): {
            "closing_balance": closing, "outstanding_certificates": outstanding,
            "issued": issued, "redeemed": redeemed, "reversed": reversed_, "refunded": refunded,
            "expired": expired, "cancelled": cancelled,
        }
        for day, currency, closing, outstanding, issued, redeemed, reversed_, refunded, expired,
        cancelled in _query(
            db,
            "SELECT day, currency, closing_balance, outstanding_certificates, issued, redeemed, "
            "reversed, refunded, expired, cancelled FROM liability_daily",
        )
    }  # fmt: skip
    assert liability == reference.liability_daily()

    issuance = {
        (day, channel, currency): (count, amount)
        for day, channel, currency, count, amount in _query(
            db, "SELECT day, channel, currency, certificates, amount FROM issuance_daily"
        )
    }
    assert issuance == reference.issuance_daily()

    redemptions = set(
        _query(
            db,
            "SELECT event_id, kind, payment_id, amount, channel, store_id FROM redemptions",
        )
    )
    assert redemptions == reference.redemptions()

    notifications = {
        (day, channel): (requested, sent, failed)
        for day, channel, requested, sent, failed in _query(
            db, "SELECT day, channel, requested, sent, failed FROM notifications_daily"
        )
    }
    assert notifications == reference.notifications_daily()

    pools = _query(db, "SELECT pool, status, occurred_at, reason FROM pool_events ORDER BY ALL")
    assert pools == reference.pool_events()

    tender = {
        (day, channel): (orders, certificate, other)
        for day, channel, orders, certificate, other in _query(
            db,
            "SELECT day, channel, orders_with_certificates, certificate_amount, "
            "other_tender_amount FROM tender_mix",
        )
    }
    assert tender == reference.tender_mix()

    cohorts = {
        (month, currency): {
            "certificates": count, "issued_amount": issued, "redeemed_amount": redeemed,
            "refunded_amount": refunded, "expired_amount": expired, "outstanding_amount": left,
        }
        for month, currency, count, issued, redeemed, refunded, expired, left in _query(
            db,
            "SELECT issue_month, currency, certificates, issued_amount, redeemed_amount, "
            "refunded_amount, expired_amount, outstanding_amount FROM breakage_cohorts",
        )
    }  # fmt: skip
    assert cohorts == reference.breakage_cohorts()

    current = dict(
        _query(db, "SELECT certificate_id, version FROM certificate_history WHERE is_current")
    )
    assert current == reference.current_versions()
    rows = _query(db, "SELECT count(*) FROM certificate_history")[0][0]
    assert rows == sum(len(versions) for versions in reference.certificates.values())
