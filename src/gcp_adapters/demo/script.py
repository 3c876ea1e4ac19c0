"""The ten seed events, step by step: what each team does, and the publication it waits for.

Each step prints what is sent (`->`) and the watcher prints what GCP publishes (`<-`). Messages
are the builders' (CONTRACTS.md's examples: a fresh messageId each) for the demo's own buyer,
encoded for the configured topics under the contract's keys. The CVC is fetched to show that
CRM can, and is never printed.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Final

import httpx
from confluent_kafka import KafkaError, Producer

from gcp_adapters.demo.console import DemoFailed, say
from gcp_adapters.demo.watcher import StreamWatcher
from gcp_adapters.http.auth import Role
from gcp_adapters.kafka.decoding import InboundTopics
from gcp_adapters.kafka.encoding import encode, key_of, topic_of
from gcp_app.inbound import builders as build
from gcp_app.inbound.messages import GiftCertificateLine, InboundMessage
from gcp_app.settings import Settings

FACE_VALUE: Final = Decimal("5000.00")
PARTIAL: Final = Decimal("1500.00")
REST: Final = Decimal("3500.00")
CARD_SHARE: Final = Decimal("500.00")
CLIENT_ID: Final = "C-DEMO"
BUYER: Final = build.buyer(CLIENT_ID, phone=None)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def _sold_line(certificate_id: str, notification_channel: str) -> GiftCertificateLine:
    """A certificate line of the face value, for Anna (the contract example's recipient)."""
    return build.certificate_line(
        certificate_id, FACE_VALUE, notification_channel=notification_channel
    )


class Demo:
    """The walk through the ten events, against one service."""

    def __init__(
        self,
        http: httpx.Client,
        producer: Producer,
        watcher: StreamWatcher,
        settings: Settings,
        tokens: dict[Role, str],
    ) -> None:
        self.http, self.producer, self.watcher = http, producer, watcher
        self.topics = InboundTopics(
            settings.topic_sales_order, settings.topic_payments, settings.topic_clients
        )
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

    def send(self, message: InboundMessage, what: str) -> None:
        """Produces `message` to its topic under the contract's key; waits for the delivery."""
        topic = topic_of(message, self.topics)
        reports: list[KafkaError | None] = []
        self.producer.produce(
            topic,
            value=encode(message),
            key=key_of(message),
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

    def sell(
        self, pool: str, order_id: str, notification_channel: str, *, told: bool = False
    ) -> tuple[str, str, str]:
        """Reserves and sends the order and its payment; waits for ISSUED. The certificate's
        id, its number and the payment id. `told`: say what happens, step by step."""
        if told:
            self.step(
                "Ordering a gift certificate",
                f"the web shop reserves a certificate for order {order_id}",
            )
        reserved = self.reserve(pool, order_id)
        certificate_id, number = reserved["certificateId"], reserved["number"]
        self.watcher.wait_for(certificate_id, "RESERVED")
        if told:
            self.step(
                "Issuing the certificate",
                "the shop publishes the order and the payment; GCP matches them and issues",
            )
        payment_id = _unique("PAY")
        line = _sold_line(certificate_id, notification_channel)
        self.send(
            build.order(order_id, certificates=[line], customer=BUYER),
            f"ORDER_CREATED {order_id}, one certificate of {FACE_VALUE} RUB, "
            f"notify by {notification_channel}",
        )
        self.send(
            build.payment(order_id, payment_id, "PAYMENT_AUTHORIZED", FACE_VALUE),
            f"PAYMENT_AUTHORIZED {payment_id}, {FACE_VALUE} RUB by card",
        )
        self.watcher.wait_for(certificate_id, "ISSUED")
        return certificate_id, number, payment_id

    def sell_own_certificate(self, pool: str, title: str, what: str) -> tuple[str, str, str]:
        """Step `title`, on a certificate of its own (sold without a notification, for a new
        web order): `what` says what happens, naming the order as {order}. The certificate's
        id, the order id and the payment id."""
        order_id = _unique("WEB")
        self.step(title, what.format(order=order_id))
        certificate_id, _, payment_id = self.sell(pool, order_id, "NONE")
        return certificate_id, order_id, payment_id

    def support_action(
        self, certificate_id: str, action: str, reason: str, *, published: str
    ) -> None:
        """Support's `action` (lock, unlock) on the certificate, giving `reason`; waits for
        the publication of the state it leads to."""
        self.call(
            "POST",
            f"/certificates/{certificate_id}/actions/{action}",
            Role.SUPPORT,
            200,
            json={"reason": reason},
        )
        self.watcher.wait_for(certificate_id, published)

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
        first, number, _ = self.sell(pool, _unique("WEB"), "EMAIL", told=True)
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
            build.client_notification(first, notification_id, client_id=CLIENT_ID),
            f"CLIENT_UPDATED {CLIENT_ID}, notification SENT",
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
        self.send_redemption(pos, number, PARTIAL, total=PARTIAL + CARD_SHARE)
        self.send(
            build.payment(pos, _unique("PAY"), "PAYMENT_CAPTURED", CARD_SHARE),
            f"PAYMENT_CAPTURED, {CARD_SHARE} RUB by card",
        )
        self.watcher.wait_for(first, "PARTIALLY_REDEEMED")

        pos = _unique("POS")
        self.step("Full redemption", f"order {pos} spends the remaining {REST}")
        self.send_redemption(pos, number, REST, total=REST)
        self.watcher.wait_for(first, "REDEEMED")

    def send_redemption(self, pos: str, number: str, amount: Decimal, *, total: Decimal) -> None:
        """A POS order redeeming `amount` from the certificate, and its REDEMPTION payment."""
        redemption_id = _unique("PAY")
        self.send(
            build.order(
                pos,
                channel="POS",
                total=total,
                redemptions=[build.redemption_line(number, amount)],
                customer=BUYER,
            ),
            f"ORDER_CREATED {pos}, redeeming {amount} from the certificate",
        )
        self.send(
            build.redemption_payment(pos, redemption_id, number, amount),
            f"REDEMPTION {redemption_id}, {amount} RUB by gift certificate",
        )

    def refund(self, pool: str) -> None:
        """Event 6, on a certificate of its own."""
        second, refund_order, paid = self.sell_own_certificate(
            pool,
            "Refund",
            "a second certificate is sold (order {order}), then its buyer asks for the money back",
        )
        refund_id = _unique("REF")
        self.send(
            build.order(
                refund_order,
                "ORDER_REFUND_REQUESTED",
                certificates=[_sold_line(second, "NONE")],
                refunds=[build.refund_line(second, "customer request")],
                customer=BUYER,
            ),
            f"ORDER_REFUND_REQUESTED {refund_order}",
        )
        for step in ("REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUND_COMPLETED"):
            self.send(
                build.payment(refund_order, refund_id, step, FACE_VALUE, refund_of=paid),
                f"{step} {refund_id}, {FACE_VALUE} RUB back to the card",
            )
            published = "REFUNDED" if step == "REFUND_COMPLETED" else step
            self.watcher.wait_for(second, published)

    def lock_and_unlock(self, pool: str) -> None:
        """Events 7 and 8, on a certificate of their own."""
        third, _, _ = self.sell_own_certificate(
            pool,
            "Locking a certificate",
            "a third certificate is sold (order {order}); support locks it for an investigation",
        )
        self.support_action(third, "lock", "suspected fraud, ticket SUP-42", published="LOCKED")

        self.step("Unlocking a certificate", "the investigation is over")
        self.support_action(third, "unlock", "ticket SUP-42 closed", published="ACTIVE")

    def shortage(self) -> None:
        """Event 9, on a pool of its own (the main pool stays stocked); the admin's refill
        ends it, so the demo leaves no pool below its low watermark."""
        small = _unique("demo-small").lower()
        self.step(
            "Certificate shortage",
            f"an admin stocks a pool {small} with one certificate (low watermark 1); "
            "the shop takes it, then asks for another",
        )
        stock = {"count": 1, "lowWatermark": 1}
        self.call("POST", f"/pools/{small}/certificates", Role.ADMIN, 201, json=stock)
        last = self.reserve(small, _unique("WEB"))
        self.watcher.wait_for(last["certificateId"], "RESERVED")
        self.watcher.wait_for(small, "POOL_LOW")
        refused = self.call(
            "GET", f"/certificates/next?pool={small}&orderId={_unique('WEB')}", Role.CHANNEL, 409
        )
        say(f"       problem: {refused.json().get('type')}")
        self.watcher.wait_for(small, "ISSUE_BLOCKED")
        say("       the admin refills the pool: the shop can sell again")
        self.call("POST", f"/pools/{small}/certificates", Role.ADMIN, 201, json={"count": 1})

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
