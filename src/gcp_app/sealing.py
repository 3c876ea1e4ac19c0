"""Sealing CVCs: AES-GCM through the eventsourcing cipher, with a key that never leaves the host.

Only the sealed form is stored in events; the plain CVC exists only while it is generated and
while the CVC endpoint hands it out.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path

from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

from gcp_app.errors import ConfigurationError

KEY_FILE = "cipher.key"


class CvcSealer:
    def __init__(self, key: str) -> None:
        try:
            self._cipher = AESCipher(Environment(env={AESCipher.CIPHER_KEY: key}))
        except (ValueError, OSError) as error:
            # Never echo the key itself.
            raise ConfigurationError(f"GCP_CIPHER_KEY is not a usable AES key: {error}") from None

    def seal(self, cvc: str) -> str:
        return base64.b64encode(self._cipher.encrypt(cvc.encode())).decode("ascii")

    def unseal(self, sealed: str) -> str:
        return self._cipher.decrypt(base64.b64decode(sealed)).decode()


def load_or_create_key(configured: str | None, var_dir: Path) -> str:
    """GCP_CIPHER_KEY if set; otherwise the key under var_dir, generated once (mode 0600)."""
    return load_or_create_secret(configured, var_dir / KEY_FILE, lambda: AESCipher.create_key(32))


def load_or_create_secret(configured: str | None, path: Path, generate: Callable[[], str]) -> str:
    """`configured` if set; otherwise the secret in `path`, generated once (mode 0600)."""
    if configured:
        return configured
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = generate()
    # Written whole to a private temporary file, then linked into place: two processes starting
    # at once end up with one secret, and nobody ever reads a half-written one.
    temporary = path.parent / f".{path.name}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret)
    try:
        os.link(temporary, path)
    except FileExistsError:
        secret = path.read_text().strip()
    finally:
        temporary.unlink()
    return secret
