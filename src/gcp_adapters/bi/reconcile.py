"""The reconciliation: the marts' outstanding liability against GCP's own event store.

For every certificate the marts know (its current row in certificate_history) and every
certificate the store ever issued (the Issued events of the notification log), what GCP owes
on it (gcp_domain.liability, the rule int_certificate_liability applies to the stream).
Compared at the same point: where the store has moved past the version the marts saw, the
certificate is replayed to that version. Totals are compared per currency (with the last closing of
liability_daily), differences listed per certificate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Final
from uuid import UUID

import attrs
import duckdb

from gcp_app.application import GiftCertificates
from gcp_domain.certificate import GiftCertificate
from gcp_domain.liability import owed

PAGE: Final = 5000
ZERO: Final = Decimal(0)


@attrs.frozen
class Held:
    """What one certificate is owed, by one side, at one version."""

    currency: str | None
    version: int
    outstanding: Decimal


@attrs.frozen
class Difference:
    certificate_id: str
    currency: str | None
    marts: Decimal | None
    store: Decimal | None


@attrs.frozen
class Reconciliation:
    marts_by_currency: dict[str, Decimal]
    store_by_currency: dict[str, Decimal]
    closing_by_currency: dict[str, Decimal]
    differences: tuple[Difference, ...]
    certificates: int

    @property
    def agrees(self) -> bool:
        return not self.differences and (
            self.marts_by_currency == self.store_by_currency == self.closing_by_currency
        )


def open_marts(path: Path) -> duckdb.DuckDBPyConnection:
    """The marts file, read-only, with `marts` as the schema of unqualified names."""
    if not path.exists():
        raise FileNotFoundError(f"no marts at {path}: run `gcp bi build` first")
    db = duckdb.connect(str(path), read_only=True)
    db.execute("SET search_path = 'marts'")
    return db


def marts_holdings(db: duckdb.DuckDBPyConnection) -> dict[str, Held]:
    rows = db.execute(
        "SELECT certificate_id, currency, version, outstanding_balance "
        "FROM certificate_history WHERE is_current"
    ).fetchall()
    return {
        certificate_id: Held(currency, int(version), Decimal(outstanding))
        for certificate_id, currency, version, outstanding in rows
    }


def marts_closing(db: duckdb.DuckDBPyConnection) -> dict[str, Decimal]:
    rows = db.execute(
        "SELECT currency, closing_balance FROM liability_daily "
        "QUALIFY row_number() OVER (PARTITION BY currency ORDER BY day DESC) = 1"
    ).fetchall()
    return {currency: Decimal(closing) for currency, closing in rows}


def issued_certificate_ids(app: GiftCertificates) -> Iterator[UUID]:
    """Every certificate the store ever issued, from the notification log's Issued events."""
    recorder = app.store.recorder
    start: int | None = None
    while True:
        page = recorder.select_notifications(
            start, PAGE, topics=[GiftCertificate.Issued.TOPIC], inclusive_of_start=False
        )
        yield from (UUID(str(notification.originator_id)) for notification in page)
        if len(page) < PAGE:
            return
        start = page[-1].id


def _chunks(ids: list[UUID], size: int = 1000) -> Iterable[list[UUID]]:
    for index in range(0, len(ids), size):
        yield ids[index : index + size]


def store_holdings(app: GiftCertificates, seen: dict[str, Held]) -> dict[str, Held]:
    """The store's side, at the version the marts saw where the store has moved on."""
    ids = {UUID(certificate_id) for certificate_id in seen} | set(issued_certificate_ids(app))
    held: dict[str, Held] = {}
    for chunk in _chunks(sorted(ids)):
        for certificate_id, current in app.store.certificates(chunk).items():
            key = str(certificate_id)
            marts = seen.get(key)
            certificate = current
            # Moved on since the marts' version, and what is owed changed: compare at that
            # version (a move that changed nothing owed, a CVC read say, needs no replay).
            if (
                marts is not None
                and current.version > marts.version
                and owed(current) != marts.outstanding
            ):
                certificate = app.state_at(certificate_id, version=marts.version)
            held[key] = Held(certificate.currency, certificate.version, owed(certificate))
    return held


def _by_currency(held: Iterable[Held]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for item in held:
        if item.currency is not None and (item.outstanding or item.currency in totals):
            totals[item.currency] = totals.get(item.currency, ZERO) + item.outstanding
    return {currency: total for currency, total in totals.items() if total}


def reconcile(app: GiftCertificates, marts_path: Path) -> Reconciliation:
    db = open_marts(marts_path)
    try:
        marts = marts_holdings(db)
        closing = {c: total for c, total in marts_closing(db).items() if total}
    finally:
        db.close()
    store = store_holdings(app, marts)
    differences = tuple(
        Difference(
            certificate_id,
            (marts.get(certificate_id) or store[certificate_id]).currency,
            marts[certificate_id].outstanding if certificate_id in marts else None,
            store[certificate_id].outstanding if certificate_id in store else None,
        )
        for certificate_id in sorted(marts.keys() | store.keys())
        if (marts.get(certificate_id) or Held(None, 0, ZERO)).outstanding
        != (store.get(certificate_id) or Held(None, 0, ZERO)).outstanding
    )
    return Reconciliation(
        marts_by_currency=_by_currency(marts.values()),
        store_by_currency=_by_currency(store.values()),
        closing_by_currency=closing,
        differences=differences,
        certificates=len(marts.keys() | store.keys()),
    )
