"""What the business assumes where a message or a request leaves something out: one place."""

from __future__ import annotations

from datetime import timedelta

import attrs

from gcp_app.settings import Settings
from gcp_domain.vocabulary import NotificationChannel


@attrs.frozen
class Defaults:
    """`currency` (GCP_DEFAULT_CURRENCY) for money without one; `validity`
    (GCP_DEFAULT_VALIDITY_DAYS) for a certificate sold without `validityDays`; the CVC is
    delivered by `notification_channel` unless the sale names another."""

    currency: str = "RUB"
    validity: timedelta = timedelta(days=365)
    notification_channel: NotificationChannel = NotificationChannel.EMAIL

    @classmethod
    def from_settings(cls, settings: Settings) -> Defaults:
        return cls(currency=settings.default_currency, validity=settings.default_validity)

    def currency_or_default(self, currency: str | None) -> str:
        return currency or self.currency

    def validity_of(self, days: int | None) -> timedelta:
        return timedelta(days=days) if days else self.validity

    def channel_or_default(self, channel: NotificationChannel | None) -> NotificationChannel:
        return channel or self.notification_channel
