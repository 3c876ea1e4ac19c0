"""The composition root: the one place that builds the application from settings."""

from __future__ import annotations

from gcp_app.application import GiftCertificates
from gcp_app.clock import Clock
from gcp_app.settings import Settings


def build_application(
    settings: Settings | None = None, *, clock: Clock | None = None
) -> GiftCertificates:
    return GiftCertificates(settings or Settings.from_env(), clock=clock)
