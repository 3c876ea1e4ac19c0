"""Stocking pools: pre-create certificates with fresh numbers and sealed CVCs, or load a card
vendor's printed numbers (`gcp pool generate`, `gcp pool import`,
`POST /pools/{pool}/certificates`). Each certificate is created with the claim of its number,
so numbers are unique across all pools by the store itself (docs/architecture.md, "The
aggregates")."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from eventsourcing.persistence import IntegrityError

from gcp_app.errors import ConcurrentUpdate, VendorImportRejected
from gcp_app.pool_index import PoolIndex
from gcp_app.pool_watch import LowWatermarkWatch
from gcp_app.sealing import CvcSealer
from gcp_app.stock import draw_cvc, draw_number, read_vendor_csv
from gcp_app.store import EventStore
from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.claims import NumberClaim, number_claim_id
from gcp_domain.numbers import CertificateNumber
from gcp_domain.pool import CertificatePool, check_pool_name

GENERATE_BATCH: Final = 1000
# How often a batch of fresh numbers is drawn again after one of them was taken meanwhile.
DRAW_RETRIES: Final = 5


class PoolStock:
    def __init__(
        self,
        store: EventStore,
        index: PoolIndex,
        sealer: CvcSealer,
        *,
        low_watermark: int,
        cvc_digits: int,
        watch: LowWatermarkWatch,
    ) -> None:
        """`low_watermark` for new pools (GCP_POOL_LOW_WATERMARK); `cvc_digits` of generated
        CVCs (GCP_CVC_DIGITS); `watch`, the reservations' POOL_LOW watch, hears of restocks."""
        self._watch = watch
        self._store = store
        self._index = index
        self._sealer = sealer
        self._low_watermark = low_watermark
        self._cvc_digits = cvc_digits

    def create_pool(self, name: str, *, low_watermark: int | None = None, cause: Cause) -> bool:
        """Creates the pool if it does not exist yet. Returns True if it was created."""
        check_pool_name(name)
        if self._store.find_pool(name) is not None:
            return False
        pool = CertificatePool.create(
            name=name,
            low_watermark=self._low_watermark if low_watermark is None else low_watermark,
            cause=cause,
        )
        try:
            self._store.save(pool)
        except IntegrityError:
            return False  # Created concurrently: same outcome.
        return True

    def generate_certificates(
        self,
        pool: str,
        count: int,
        *,
        cause: Cause,
        progress: Callable[[int], None] | None = None,
        batch_size: int = GENERATE_BATCH,
    ) -> int:
        """Pre-creates `count` certificates with fresh numbers and sealed CVCs, in batches."""
        if count <= 0:
            raise ValueError("count must be positive")
        self.create_pool(pool, cause=cause)
        done = 0
        while done < count:
            size = min(batch_size, count - done)
            for _ in range(DRAW_RETRIES):
                batch = [(draw_number(), draw_cvc(self._cvc_digits)) for _ in range(size)]
                if len({number for number, _ in batch}) < size:
                    continue  # A number drawn twice in one batch: draw the batch again.
                try:
                    self._stock(pool, batch, source="generated", cause=cause)
                    break
                except IntegrityError:
                    continue  # A number already taken, or the pool changed: draw again.
            else:
                raise ConcurrentUpdate("could not store a batch of new certificates")
            done += size
            if progress is not None:
                progress(size)
        return done

    def import_certificates(
        self, pool: str, lines: Iterable[str], *, source: str, cause: Cause
    ) -> int:
        """Loads a card vendor's CSV (`number,cvc`): every row in one transaction, or none.

        Any bad row refuses the whole file with every bad line and why (never the CVC)."""
        rows, problems = read_vendor_csv(lines)
        if problems:
            raise VendorImportRejected(problems)
        self.create_pool(pool, cause=cause)
        try:
            self._stock(pool, [(r.number, r.cvc) for r in rows], source=source, cause=cause)
        except IntegrityError:
            taken = [
                (r.line, "the number belongs to an existing certificate")
                for r in rows
                if number_claim_id(r.number.value) in self._store.repository
            ]
            if not taken:
                raise  # Not a duplicate number: a concurrent change of the pool; let it surface.
            raise VendorImportRejected(taken) from None
        return len(rows)

    def _stock(
        self,
        pool_name: str,
        batch: list[tuple[CertificateNumber, str]],
        *,
        source: str,
        cause: Cause,
    ) -> None:
        pool = self._store.pool(pool_name)
        aggregates: list[Any] = []
        certificates = []
        for number, cvc in batch:
            certificate = GiftCertificate.create(
                pool=pool_name, number=number, sealed_cvc=self._sealer.seal(cvc), cause=cause
            )
            certificates.append(certificate)
            aggregates.append(certificate)
            aggregates.append(
                NumberClaim(number=number.value, certificate_id=certificate.id, cause=cause)
            )
        pool.record_added(count=len(batch), source=source, cause=cause)
        if pool.running_low:  # rare: only then are the pool's certificates counted
            available = self._index.levels(pool_name).available + len(batch)
            pool.report_restocked(available=available, cause=cause)
        self._store.save(*aggregates, pool)
        self._watch.forget(pool_name)
