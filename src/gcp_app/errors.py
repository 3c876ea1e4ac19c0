"""What the application refuses, beyond the domain's own rules."""

from __future__ import annotations

from gcp_domain.errors import DomainError


class CertificateNotFound(DomainError):
    code = "certificate-not-found"


class PoolNotFound(DomainError):
    code = "pool-not-found"


class PoolExhausted(DomainError):
    """No certificate left to reserve (ISSUE_BLOCKED has been published)."""

    code = "pool-exhausted"


class ReservationContention(DomainError):
    """Every candidate was taken by a concurrent reserver within the bounded retries."""

    code = "reservation-contention"


class ReservationLapsed(DomainError):
    """An Idempotency-Key whose reservation was released: its answer is no longer ours."""

    code = "reservation-lapsed"


class IdempotencyKeyReused(DomainError):
    """An Idempotency-Key sent again with another request (body, query): no answer for it."""

    code = "idempotency-key-reused"


class IdempotencyKeyInFlight(DomainError):
    """An Idempotency-Key whose first request is still running: retry shortly."""

    code = "idempotency-key-in-flight"


class ConcurrentUpdate(DomainError):
    """The certificate kept changing under us within the bounded retries."""

    code = "concurrent-update"


class VendorImportRejected(DomainError):
    """The vendor file had bad rows; nothing was imported."""

    code = "vendor-import-rejected"

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"line {line}: {reason}" for line, reason in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} bad rows, nothing imported: {shown}{more}")
        self.problems = problems


class ConfigurationError(Exception):
    """A setting is missing or malformed."""


class RateLimited(DomainError):
    """A caller over its rate (contract 1.1: `GCP_RATE_PER_SECOND` a second, bursts up to
    twice that): try again after `retry_after` seconds. Other callers are not slowed."""

    code = "rate-limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests from this caller; try again later.")
        self.retry_after = retry_after


class StoreUnavailable(DomainError):
    """The event store does not answer (gcp_app.store_watch): try again shortly."""

    code = "store-unavailable"
