"""The composition root: the one place that builds the application from settings."""

from __future__ import annotations

import secrets
from typing import Final

from gcp_app.application import GiftCertificates
from gcp_app.clock import Clock
from gcp_app.errors import ConfigurationError
from gcp_app.sealing import load_or_create_secret
from gcp_app.settings import Settings

JWT_SECRET_FILE: Final = "jwt.secret"  # noqa: S105 (a file name, not a secret)
# HS256 with a shorter secret is guessable offline from any one token (RFC 7518 3.2).
MIN_JWT_SECRET: Final = 32


def build_application(
    settings: Settings | None = None, *, clock: Clock | None = None
) -> GiftCertificates:
    return GiftCertificates(settings or Settings.from_env(), clock=clock)


def jwt_secret(settings: Settings) -> str:
    """GCP_JWT_SECRET, or the secret generated once under GCP_VAR_DIR (mode 0600)."""
    secret = load_or_create_secret(
        settings.jwt_secret,
        settings.var_dir / JWT_SECRET_FILE,
        lambda: secrets.token_urlsafe(48),
    )
    if len(secret) < MIN_JWT_SECRET:
        raise ConfigurationError(f"GCP_JWT_SECRET must have at least {MIN_JWT_SECRET} characters")
    return secret
