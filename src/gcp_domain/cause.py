"""Who did a thing and why: recorded on every event of every aggregate."""

from __future__ import annotations

import attrs

from gcp_domain.text import cut_identifier


@attrs.frozen
class Cause:
    """`actor` is who (a token's subject, `kafka:All_Payments`, `timer:expiry`);
    `causation_id` the message or request that caused the change;
    `correlation_id` the business conversation it belongs to (an orderId, say)."""

    # Cut to 200 characters: a token's subject or a message's id is the caller's to choose.
    actor: str = attrs.field(converter=cut_identifier)
    causation_id: str = attrs.field(converter=cut_identifier)
    correlation_id: str = attrs.field(converter=cut_identifier)

    @classmethod
    def system(cls, actor: str, causation_id: str) -> Cause:
        return cls(actor=actor, causation_id=causation_id, correlation_id=causation_id)
