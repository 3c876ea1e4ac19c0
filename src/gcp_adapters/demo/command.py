"""The `gcp demo` command: its arguments, and the run that finds the service (its HTTP address,
its Kafka address, its token secret) and walks the script against it.

Tokens are minted with the service's own secret (GCP_JWT_SECRET, or <GCP_VAR_DIR>/jwt.secret,
which `gcp serve` generates on first start), so run it from the directory the service runs in,
or pass `--token-secret`.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Final

import httpx
from confluent_kafka import Producer

from gcp_adapters.bootstrap import JWT_SECRET_FILE, configured_jwt_secret
from gcp_adapters.cli.arguments import EXIT_FAILED, EXIT_REFUSED
from gcp_adapters.demo.console import DemoFailed, complain, say
from gcp_adapters.demo.script import Demo
from gcp_adapters.demo.watcher import StreamWatcher
from gcp_adapters.http.auth import Role, mint_token
from gcp_adapters.kafka.embedded import running_address
from gcp_app.errors import ConfigurationError
from gcp_app.settings import Settings

TOKEN_TTL: Final = timedelta(hours=1)


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
    parser.add_argument(
        "--pool", default="default", help="the pool to sell from (default: %(default)s)"
    )
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
            args.bootstrap or settings.kafka_bootstrap_servers or running_address(settings.var_dir)
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
