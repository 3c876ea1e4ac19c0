"""`gcp demo`: the ten seed events, driven against a running `gcp serve`, for a newcomer.

It plays every other team in turn: the channel (HTTP `GET /certificates/next`, then the order
and the payment on All_SalesOrder and All_Payments), CRM (the CVC over HTTP, the delivery result
on All_Clients), support (lock and unlock over HTTP), an admin (a small pool that runs dry) and
BI (a count of what the stream carried). After each action it prints what the service published
on GiftCertificates.Stream, read by a consumer that starts at the end of the topic, so only this
run's publications appear.

Tokens are minted with the service's own secret (GCP_JWT_SECRET, or <GCP_VAR_DIR>/jwt.secret,
which `gcp serve` generates on first start), so run it from the directory the service runs in,
or pass `--token-secret`. The CVC is fetched to show that CRM can, and is never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import httpx
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from gcp_adapters.bootstrap import JWT_SECRET_FILE, configured_jwt_secret
from gcp_adapters.http.auth import Role, mint_token
from gcp_adapters.kafka.embedded import ADDRESS_FILE
from gcp_app.errors import ConfigurationError
from gcp_app.settings import Settings

EXIT_FAILED: Final = 1
EXIT_REFUSED: Final = 2
TOKEN_TTL: Final = timedelta(hours=1)
FACE_VALUE: Final = "5000.00"
PARTIAL: Final = "1500.00"
REST: Final = "3500.00"
CARD_SHARE: Final = "500.00"


class DemoFailed(Exception):
    """A step did not get the answer or the publication it waited for."""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def complain(text: str) -> None:
    sys.stderr.write(f"gcp demo: {text}\n")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


# ---------------------------------------------------------------------- inbound messages
# Exactly the shapes of CONTRACTS.md (camelCase, money as strings, a fresh messageId each).


def _order(
    order_id: str,
    event_type: str,
    *,
    channel: str,
    total: str,
    certificates: Iterable[dict[str, Any]] = (),
    redemptions: Iterable[dict[str, Any]] = (),
    refunds: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "eventType": event_type,
        "occurredAt": _now(),
        "orderId": order_id,
        "channel": channel,
        "storeId": "MSK-001",
        "customer": {"clientId": "C-DEMO", "email": "buyer@example.com", "phone": None},
        "totalAmount": total,
        "currency": "RUB",
        "giftCertificates": list(certificates),
        "redemptions": list(redemptions),
        "refunds": list(refunds),
    }


def _sold_line(certificate_id: str, notification_channel: str) -> dict[str, Any]:
    return {
        "certificateId": certificate_id,
        "amount": FACE_VALUE,
        "validityDays": 365,
        "notificationChannel": notification_channel,
        "recipient": {"name": "Anna", "email": "anna@example.com", "phone": None},
    }


def _payment(
    order_id: str,
    payment_id: str,
    event_type: str,
    amount: str,
    *,
    method: str = "CARD",
    number: str | None = None,
    refund_of: str | None = None,
) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "eventType": event_type,
        "occurredAt": _now(),
        "paymentId": payment_id,
        "orderId": order_id,
        "method": method,
        "amount": amount,
        "currency": "RUB",
        "certificateNumber": number,
        "refundOf": refund_of,
    }


def _client_update(certificate_id: str, notification_id: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "eventType": "CLIENT_UPDATED",
        "occurredAt": _now(),
        "clientId": "C-DEMO",
        "giftCertificateNotification": {
            "certificateId": certificate_id,
            "notificationId": notification_id,
            "result": "SENT",
            "channel": "EMAIL",
            "error": None,
        },
    }


# ---------------------------------------------------------------------- the stream


class StreamWatcher:
    """Reads the stream (and the DLQ) from where they end now; prints this run's publications."""

    def __init__(self, bootstrap: str, stream: str, dlq: str, timeout: float) -> None:
        self.stream_topic, self.dlq_topic, self.timeout = stream, dlq, timeout
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"gcp-demo-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
            }
        )
        # Explicit end offsets (not OFFSET_END, resolved lazily): nothing published after this
        # constructor returns can be missed.
        assigned = []
        for topic in (stream, dlq):
            metadata = self.consumer.list_topics(topic, timeout=10).topics[topic]
            if metadata.error is not None or not metadata.partitions:
                raise DemoFailed(f"the broker has no topic {topic}: {metadata.error}")
            for partition in metadata.partitions:
                _, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                assigned.append(TopicPartition(topic, partition, high))
        self.consumer.assign(assigned)
        self.tracked: set[str] = set()
        self.by_key: dict[str, list[dict[str, Any]]] = {}
        self.matched: dict[str, int] = {}
        self.seen_events: set[str] = set()
        self.statuses: Counter[str] = Counter()
        self.dead_letters: list[dict[str, Any]] = []

    def track(self, key: str) -> None:
        """Prints `key`'s publications from now on (and those already read)."""
        if key in self.tracked:
            return
        self.tracked.add(key)
        for value in self.by_key.get(key, []):
            _print_publication(value)

    def poll(self, timeout: float = 0.2) -> None:
        for message in self.consumer.consume(num_messages=500, timeout=timeout):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise DemoFailed(f"reading the stream: {error}")
            raw, key = message.value(), message.key()
            if not isinstance(raw, bytes):
                continue
            value = json.loads(raw.decode("utf-8"))
            if message.topic() == self.dlq_topic:
                self.dead_letters.append(value)
                say(f"    !! dead letter: {value.get('reasonCode')}: {value.get('reason')}")
                continue
            if value.get("eventId") in self.seen_events:
                continue  # at-least-once: a redelivery
            self.seen_events.add(value.get("eventId", ""))
            self.statuses[str(value.get("status"))] += 1
            name = key.decode("utf-8") if isinstance(key, bytes) else ""
            self.by_key.setdefault(name, []).append(value)
            if name in self.tracked:
                _print_publication(value)

    def wait_for(self, key: str, status: str) -> dict[str, Any]:
        """The next publication for `key` with `status` (after those already waited for)."""
        self.track(key)
        deadline = time.monotonic() + self.timeout
        while True:
            found = self.by_key.get(key, [])
            for index in range(self.matched.get(key, 0), len(found)):
                if found[index].get("status") == status:
                    self.matched[key] = index + 1
                    return found[index]
            if time.monotonic() > deadline:
                seen = [v.get("status") for v in found]
                raise DemoFailed(f"no {status} for {key} within {self.timeout} s (seen: {seen})")
            self.poll()

    def close(self) -> None:
        self.consumer.close()


def _print_publication(value: dict[str, Any]) -> None:
    status = value.get("status")
    if status == "ISSUE_BLOCKED":
        say(f"    <- stream: {status:<22} pool {value.get('pool')}: {value.get('reason')}")
        return
    parts = [f"state {value.get('state')}"]
    if value.get("remainingBalance") is not None:
        parts.append(f"balance {value['remainingBalance']} {value.get('currency')}")
    notification = value.get("notification")
    if status in ("NOTIFICATION_REQUESTED", "NOTIFICATION_SENT") and notification:
        parts.append(f"notification {notification['status']} by {notification['channel']}")
    operation = value.get("operation")
    if operation:
        parts.append(f"operation {operation.get('type')} {operation.get('amount')}")
    refund = value.get("refund")
    if refund:
        parts.append(f"refund {refund.get('status')}")
    if value.get("lock"):
        parts.append(f"locked: {value['lock'].get('reason')}")
    if value.get("reason") and status != "LOCKED":
        parts.append(f"reason {value['reason']}")
    masked = value.get("maskedNumber") or "?"
    say(f"    <- stream: {status:<22} {masked} v{value.get('version')}: {', '.join(parts)}")


# ---------------------------------------------------------------------- the walk


class Demo:
    def __init__(
        self,
        http: httpx.Client,
        producer: Producer,
        watcher: StreamWatcher,
        settings: Settings,
        tokens: dict[Role, str],
    ) -> None:
        self.http, self.producer, self.watcher, self.settings = http, producer, watcher, settings
        self.tokens = tokens
        self.step_number = 0

    # -- plumbing

    def step(self, title: str, what: str) -> None:
        self.step_number += 1
        say()
        say(f"== {self.step_number}. {title}")
        say(f"   {what}")

    def call(self, method: str, path: str, role: Role, expect: int, **kw: Any) -> httpx.Response:
        response = self.http.request(
            method, path, headers={"Authorization": self.tokens[role]}, **kw
        )
        shown = path.split("?", maxsplit=1)[0] if "/cvc" in path else path
        say(f"    -> HTTP {method} {shown}: {response.status_code}")
        if response.status_code != expect:
            raise DemoFailed(
                f"{method} {shown} answered {response.status_code}, not {expect}: "
                f"{response.text[:300]}"
            )
        return response

    def send(self, topic: str, value: dict[str, Any], what: str) -> None:
        key = (
            value["clientId"]
            if "clientId" in value and "orderId" not in value
            else value["orderId"]
        )
        reports: list[KafkaError | None] = []
        self.producer.produce(
            topic,
            value=json.dumps(value).encode("utf-8"),
            key=str(key).encode("utf-8"),
            on_delivery=lambda error, _message: reports.append(error),
        )
        self.producer.flush(self.watcher.timeout)
        if not reports or reports[0] is not None:
            raise DemoFailed(f"{topic}: not delivered: {reports or 'no delivery report'}")
        say(f"    -> Kafka {topic}: {what}")

    def reserve(self, pool: str, order_id: str) -> dict[str, Any]:
        path = f"/certificates/next?pool={pool}&orderId={order_id}"
        body: dict[str, Any] = self.call("GET", path, Role.CHANNEL, 200).json()
        say(
            f"       reserved {body['number'][:4]} ... {body['number'][-4:]} "
            f"(id {body['certificateId']}) until {body['reservedUntil']}"
        )
        return body

    def sell(self, pool: str, order_id: str, notification_channel: str) -> tuple[str, str, str]:
        """Reserves and sends the order and its payment; waits for ISSUED. The certificate's
        id, its number and the payment id."""
        reserved = self.reserve(pool, order_id)
        certificate_id, number = reserved["certificateId"], reserved["number"]
        self.watcher.wait_for(certificate_id, "RESERVED")
        payment_id = _unique("PAY")
        line = _sold_line(certificate_id, notification_channel)
        self.send(
            self.settings.topic_sales_order,
            _order(order_id, "ORDER_CREATED", channel="WEB", total=FACE_VALUE, certificates=[line]),
            f"ORDER_CREATED {order_id}, one certificate of {FACE_VALUE} RUB",
        )
        self.send(
            self.settings.topic_payments,
            _payment(order_id, payment_id, "PAYMENT_AUTHORIZED", FACE_VALUE),
            f"PAYMENT_AUTHORIZED {payment_id}, {FACE_VALUE} RUB by card",
        )
        self.watcher.wait_for(certificate_id, "ISSUED")
        return certificate_id, number, payment_id

    # -- the ten events

    def run(self, pool: str) -> None:
        number, first = self.sell_and_notify(pool)
        self.redeem(first, number)
        self.refund(pool)
        self.lock_and_unlock(pool)
        self.shortage()
        self.report()

    def sell_and_notify(self, pool: str) -> tuple[str, str]:
        """Events 1 to 3: the printed number and the id of the first certificate."""
        topics = self.settings
        order_id = _unique("WEB")
        self.step(
            "Ordering a gift certificate",
            f"the web shop reserves a certificate for order {order_id}",
        )
        reserved = self.reserve(pool, order_id)
        first, number = reserved["certificateId"], reserved["number"]
        self.watcher.wait_for(first, "RESERVED")

        self.step(
            "Issuing the certificate",
            "the shop publishes the order and the payment; GCP matches them and issues",
        )
        payment_id = _unique("PAY")
        line = _sold_line(first, "EMAIL")
        self.send(
            topics.topic_sales_order,
            _order(order_id, "ORDER_CREATED", channel="WEB", total=FACE_VALUE, certificates=[line]),
            f"ORDER_CREATED {order_id}, one certificate of {FACE_VALUE} RUB, notify by EMAIL",
        )
        self.send(
            topics.topic_payments,
            _payment(order_id, payment_id, "PAYMENT_AUTHORIZED", FACE_VALUE),
            f"PAYMENT_AUTHORIZED {payment_id}, {FACE_VALUE} RUB by card",
        )
        self.watcher.wait_for(first, "ISSUED")
        requested = self.watcher.wait_for(first, "NOTIFICATION_REQUESTED")
        notification_id = requested["notification"]["notificationId"]

        self.step(
            "Sending the CVC to the buyer",
            "CRM fetches the one-time CVC for the "
            "notification request, delivers it and reports SENT on All_Clients",
        )
        cvc = self.call(
            "GET", f"/certificates/{first}/cvc?notificationId={notification_id}", Role.CRM, 200
        )
        del cvc  # never printed, never kept
        say("       CVC received (hidden)")
        self.send(
            topics.topic_clients,
            _client_update(first, notification_id),
            "CLIENT_UPDATED C-DEMO, notification SENT",
        )
        self.watcher.wait_for(first, "NOTIFICATION_SENT")
        return number, first

    def redeem(self, first: str, number: str) -> None:
        """Events 4 and 5."""
        pos = _unique("POS")
        self.step(
            "Partial redemption",
            f"at the till, order {pos} pays {PARTIAL} with the "
            f"certificate and {CARD_SHARE} by card",
        )
        total = str(Decimal(PARTIAL) + Decimal(CARD_SHARE))  # money never goes through float
        self.send_redemption(pos, number, PARTIAL, total=total)
        self.send(
            self.settings.topic_payments,
            _payment(pos, _unique("PAY"), "PAYMENT_CAPTURED", CARD_SHARE),
            f"PAYMENT_CAPTURED, {CARD_SHARE} RUB by card",
        )
        self.watcher.wait_for(first, "PARTIALLY_REDEEMED")

        pos = _unique("POS")
        self.step("Full redemption", f"order {pos} spends the remaining {REST}")
        self.send_redemption(pos, number, REST, total=REST)
        self.watcher.wait_for(first, "REDEEMED")

    def send_redemption(self, pos: str, number: str, amount: str, *, total: str) -> None:
        """A POS order redeeming `amount` from the certificate, and its REDEMPTION payment."""
        topics = self.settings
        redemption_id = _unique("PAY")
        self.send(
            topics.topic_sales_order,
            _order(
                pos,
                "ORDER_CREATED",
                channel="POS",
                total=total,
                redemptions=[{"certificateNumber": number, "amount": amount}],
            ),
            f"ORDER_CREATED {pos}, redeeming {amount} from the certificate",
        )
        self.send(
            topics.topic_payments,
            _payment(
                pos, redemption_id, "REDEMPTION", amount, method="GIFT_CERTIFICATE", number=number
            ),
            f"REDEMPTION {redemption_id}, {amount} RUB by gift certificate",
        )

    def refund(self, pool: str) -> None:
        """Event 6, on a certificate of its own."""
        topics = self.settings
        refund_order = _unique("WEB")
        self.step(
            "Refund",
            f"a second certificate is sold (order {refund_order}), then its "
            "buyer asks for the money back",
        )
        second, _, paid = self.sell(pool, refund_order, "NONE")
        refund_id = _unique("REF")
        self.send(
            topics.topic_sales_order,
            _order(
                refund_order,
                "ORDER_REFUND_REQUESTED",
                channel="WEB",
                total=FACE_VALUE,
                certificates=[_sold_line(second, "NONE")],
                refunds=[{"certificateId": second, "reason": "customer request"}],
            ),
            f"ORDER_REFUND_REQUESTED {refund_order}",
        )
        for step in ("REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUND_COMPLETED"):
            self.send(
                topics.topic_payments,
                _payment(refund_order, refund_id, step, FACE_VALUE, refund_of=paid),
                f"{step} {refund_id}, {FACE_VALUE} RUB back to the card",
            )
            published = "REFUNDED" if step == "REFUND_COMPLETED" else step
            self.watcher.wait_for(second, published)

    def lock_and_unlock(self, pool: str) -> None:
        """Events 7 and 8, on a certificate of their own."""
        lock_order = _unique("WEB")
        self.step(
            "Locking a certificate",
            f"a third certificate is sold (order {lock_order}); "
            "support locks it for an investigation",
        )
        third, _, _ = self.sell(pool, lock_order, "NONE")
        self.call(
            "POST",
            f"/certificates/{third}/actions/lock",
            Role.SUPPORT,
            200,
            json={"reason": "suspected fraud, ticket SUP-42"},
        )
        self.watcher.wait_for(third, "LOCKED")

        self.step("Unlocking a certificate", "the investigation is over")
        self.call(
            "POST",
            f"/certificates/{third}/actions/unlock",
            Role.SUPPORT,
            200,
            json={"reason": "ticket SUP-42 closed"},
        )
        self.watcher.wait_for(third, "ACTIVE")

    def shortage(self) -> None:
        """Event 9, on a pool of its own (the main pool stays stocked)."""
        small = _unique("demo-small").lower()
        self.step(
            "Certificate shortage",
            f"an admin stocks a pool {small} with one certificate; "
            "the shop takes it, then asks for another",
        )
        self.call("POST", f"/pools/{small}/certificates", Role.ADMIN, 201, json={"count": 1})
        last = self.reserve(small, _unique("WEB"))
        self.watcher.wait_for(last["certificateId"], "RESERVED")
        refused = self.call(
            "GET", f"/certificates/next?pool={small}&orderId={_unique('WEB')}", Role.CHANNEL, 409
        )
        say(f"       problem: {refused.json().get('type')}")
        self.watcher.wait_for(small, "ISSUE_BLOCKED")

    def report(self) -> None:
        """Event 10: what a BI consumer of the stream would count."""
        self.step(
            "Keeping BI data current",
            "BI builds its reports from the stream alone; this run published:",
        )
        self.watcher.poll(0.5)
        for status, count in self.watcher.statuses.most_common():
            say(f"       {status:<24} {count}")
        keys = [k for k in self.watcher.by_key if k in self.watcher.tracked]
        say(
            f"       {sum(self.watcher.statuses.values())} publications about {len(keys)} keys "
            f"(certificates and the blocked pool); dead letters: {len(self.watcher.dead_letters)}"
        )


# ---------------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="the service's HTTP address (default: from GCP_HTTP_HOST "
        "and GCP_HTTP_PORT, http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--bootstrap",
        metavar="ADDRESS",
        help="the Kafka address `gcp serve` "
        "printed after 'kafka:' (default: GCP_KAFKA_BOOTSTRAP_SERVERS)",
    )
    parser.add_argument(
        "--token-secret",
        help="the service's JWT secret (default: GCP_JWT_SECRET, or <GCP_VAR_DIR>/jwt.secret)",
    )
    parser.add_argument("--pool", default="default", help="the pool to sell from")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for each publication (default 30)",
    )


def _secret(settings: Settings, given: str | None) -> str:
    if given:
        return given
    if settings.jwt_secret is None and not (settings.var_dir / JWT_SECRET_FILE).exists():
        raise ConfigurationError(
            f"no token secret: GCP_JWT_SECRET is not set and {settings.var_dir / JWT_SECRET_FILE} "
            "does not exist; run the demo from the directory `gcp serve` runs in, or pass "
            "--token-secret"
        )
    return configured_jwt_secret(settings)


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
        secret = _secret(settings, args.token_secret)
        host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host  # noqa: S104
        url = (args.url or f"http://{host}:{settings.http_port}").rstrip("/")
        bootstrap = (
            args.bootstrap or settings.kafka_bootstrap_servers or _embedded_address(settings)
        )
        if not bootstrap:
            raise ConfigurationError(
                "no Kafka address: pass --bootstrap with the address `gcp serve` printed after "
                "'kafka:' (or set GCP_KAFKA_BOOTSTRAP_SERVERS)"
            )
    except ConfigurationError as error:
        complain(str(error))
        return EXIT_REFUSED
    with httpx.Client(base_url=url, timeout=args.timeout) as http:
        try:
            http.get("/health/ready").raise_for_status()
        except httpx.HTTPError as error:
            complain(f"no ready service at {url} ({error}); start `gcp serve` first")
            return EXIT_REFUSED
        say(f"GCP demo: the ten seed events against {url}, Kafka at {bootstrap}")
        say("-> what we send (as the shop, CRM, support, an admin); <- what GCP publishes")
        try:
            watcher = StreamWatcher(
                bootstrap, settings.topic_stream, settings.topic_dlq, args.timeout
            )
        except DemoFailed as error:
            complain(str(error))
            return EXIT_FAILED
        producer = Producer({"bootstrap.servers": bootstrap})
        tokens = {
            role: f"Bearer {mint_token(secret, f'demo-{role}', [role], TOKEN_TTL)}" for role in Role
        }
        demo = Demo(http, producer, watcher, settings, tokens)
        try:
            demo.run(args.pool)
        except (DemoFailed, httpx.HTTPError) as error:
            complain(f"step {demo.step_number} failed: {error}")
            return EXIT_FAILED
        finally:
            producer.flush(5)
            watcher.close()
    say()
    say("done: every step got its publication. `gcp certificate history <id>` shows the audit.")
    return 0


def _embedded_address(settings: Settings) -> str | None:
    """The address a local `gcp serve` left for its embedded broker, if it runs one."""
    path = settings.var_dir / ADDRESS_FILE
    return path.read_text().strip() or None if path.exists() else None
