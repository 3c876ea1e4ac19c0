"""`gcp`: the operator's command line (pools, certificates, audits, serving)."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from uuid import UUID, uuid4

import msgspec

from gcp_adapters import demo, heap
from gcp_adapters.bi import command as bi_command
from gcp_adapters.bootstrap import build_application, build_service, configured_jwt_secret
from gcp_adapters.cli.arguments import (
    EXIT_FAILED,
    EXIT_REFUSED,
    instant,
    not_negative,
    positive,
)
from gcp_adapters.cli.progress import ProgressBar
from gcp_adapters.http.auth import Role, mint_token
from gcp_adapters.http.models import PoolLevelsOut
from gcp_adapters.kafka.embedded import running_address
from gcp_adapters.kafka.probe import KafkaProbe
from gcp_adapters.kafka.republish import RepublishStalled, republish
from gcp_adapters.logs import install_json_logging
from gcp_adapters.service import PARTS, Service
from gcp_app.application import GiftCertificates, PoolStatus
from gcp_app.errors import ConfigurationError, VendorImportRejected
from gcp_app.outbox import Outbox
from gcp_app.persistence import describe
from gcp_app.settings import SETTINGS, Settings
from gcp_domain.cause import Cause
from gcp_domain.errors import DomainError
from gcp_domain.stream import rfc3339

# Development tokens printed by `gcp serve` on the generated JWT secret.
DEV_TOKEN_TTL = timedelta(hours=24)

DEFAULT_POOL: Final = "default"
# What `serve` stocks, once, on the embedded defaults, so that a newcomer can start.
FIRST_STOCK: Final = 1000
CERTIFICATE_HELP: Final = "a certificate's id or its printed number"
# How long `serve` waits for a configured broker before it says it is not ready.
BROKER_PROBE_SECONDS: Final = 3.0


def _settings_epilog() -> str:
    lines = ["configuration (environment variables):"]
    for setting in SETTINGS:
        default = f" [default: {setting.default}]" if setting.default else ""
        lines.append(f"  {setting.env}{default}\n      {setting.help}")
    return "\n".join(lines)


def _cli_cause() -> Cause:
    request = f"cli-{uuid4()}"
    return Cause(actor=f"cli:{getpass.getuser()}", causation_id=request, correlation_id=request)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _status_line(status: PoolStatus) -> str:
    warning = "  (below low watermark: refill)" if status.below_low_watermark else ""
    return (
        f"{status.pool}: available {status.available}, reserved {status.reserved}, "
        f"issued {status.issued}, cancelled {status.cancelled}, "
        f"low watermark {status.low_watermark}{warning}"
    )


# ---------------------------------------------------------------------- commands


def pool_generate(app: GiftCertificates, args: argparse.Namespace) -> int:
    app.pools.create_pool(args.pool, low_watermark=args.low_watermark, cause=_cli_cause())
    bar = ProgressBar(args.count, f"generating {args.pool}")
    app.pools.generate_certificates(args.pool, args.count, cause=_cli_cause(), progress=bar.advance)
    bar.finish()
    print(_status_line(app.pool_status(args.pool)))
    return 0


def pool_import(app: GiftCertificates, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        with path.open(newline="", encoding="utf-8") as file:
            count = app.pools.import_certificates(
                args.pool, file, source=f"vendor:{path.name}", cause=_cli_cause()
            )
    except OSError as error:
        print(f"gcp: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return EXIT_REFUSED
    except VendorImportRejected as rejected:
        print(f"{path}: {len(rejected.problems)} bad rows, nothing imported:", file=sys.stderr)
        for line, reason in rejected.problems:
            print(f"  line {line}: {reason}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"imported {count} certificates into {args.pool}")
    print(_status_line(app.pool_status(args.pool)))
    return 0


def pool_status(app: GiftCertificates, args: argparse.Namespace) -> int:
    names = [args.pool] if args.pool else app.pool_names()
    statuses = [app.pool_status(name) for name in names]
    if args.json:
        _print_json([msgspec.to_builtins(PoolLevelsOut.of(s)) for s in statuses])
    elif not statuses:
        print("no pools yet: gcp pool generate --pool default --count 1000")
    else:
        for status in statuses:
            print(_status_line(status))
    return 0


def _certificate_id(app: GiftCertificates, reference: str) -> UUID:
    try:
        return UUID(reference)
    except ValueError:
        found = app.find_by_number(reference)
        if found is None:
            raise DomainError("no certificate with that id or number") from None
        return found


def certificate_show(app: GiftCertificates, args: argparse.Namespace) -> int:
    _print_json(app.current_object(_certificate_id(app, args.certificate)))
    return 0


def certificate_history(app: GiftCertificates, args: argparse.Namespace) -> int:
    _print_json([entry.as_json() for entry in app.history(_certificate_id(app, args.certificate))])
    return 0


def certificate_at(app: GiftCertificates, args: argparse.Namespace) -> int:
    """The certificate as it was at a version or an instant: an audit's question."""
    certificate_id = _certificate_id(app, args.certificate)
    history = app.history(certificate_id)
    if args.version is not None and args.version > len(history):
        raise DomainError(f"--version {args.version}: the certificate has {len(history)} versions")
    certificate = app.state_at(certificate_id, version=args.version, at=args.at)
    last = history[certificate.version - 1]
    summary = {
        "certificateId": str(certificate.id),
        "version": certificate.version,
        "asOf": rfc3339(last.at),
        "lastEvent": last.event,
        "state": str(certificate.state),
        "remainingBalance": str(certificate.balance) if certificate.is_issued else None,
        "currency": certificate.currency,
    }
    _print_json(summary)
    return 0


def _stock_wanted(app: GiftCertificates, args: argparse.Namespace) -> int:
    """How many certificates `serve` keeps available in `--pool`: `--stock` when given; on
    the embedded defaults, a first stock for a default pool that never had any (contract 1.1:
    "gcp serve never creates certificates on its own, except on the embedded defaults ... where
    it stocks an empty default pool once"); otherwise none."""
    if args.stock is not None:
        return int(args.stock)
    if not app.settings.embedded_store or args.pool != DEFAULT_POOL:
        return 0
    if args.pool in app.pool_names():
        status = app.pool_status(args.pool)
        if status.available + status.reserved + status.issued + status.cancelled > 0:
            return 0
    return FIRST_STOCK


def serve(app: GiftCertificates, args: argparse.Namespace) -> int:
    """Runs the service until SIGTERM or Ctrl-C: the HTTP API, the consumers, the relay and the
    timers (or the `--only` parts), after making sure the pool is stocked."""
    install_json_logging(logging.INFO)
    stock = _stock_wanted(app, args)
    if stock > 0:
        cause = _cli_cause()
        app.pools.create_pool(args.pool, cause=cause)
        missing = stock - app.pool_status(args.pool).available
        if missing > 0:
            bar = ProgressBar(missing, f"stocking {args.pool}")
            app.pools.generate_certificates(args.pool, missing, cause=cause, progress=bar.advance)
            bar.finish()
    service = build_service(app, args.only or PARTS)
    print(f"store: {describe(app.settings.database_url)}")
    if args.pool in app.pool_names():
        print(_status_line(app.pool_status(args.pool)))
    if service.bootstrap_servers:
        embedded = " (embedded, development only)" if service.broker else ""
        print(f"kafka: {service.bootstrap_servers}{embedded}")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stopping.set())
    heap.settle()
    service.start()
    if service.stopping.is_set():  # a part failed to start (the log above says why)
        service.stop()
        where = f" on {app.settings.http_host}:{app.settings.http_port}" if service.http else ""
        print(f"gcp: the service could not start{where}: see the error above", file=sys.stderr)
        return EXIT_FAILED
    if service.http_url is not None:
        print(f"http: {service.http_url} (OpenAPI: {service.http_url}/schema/openapi.json)")
        if app.settings.jwt_secret is None:
            _print_dev_tokens(app)
    print(_started_line(service), flush=True)
    service.stopping.wait()
    print("stopping: finishing what is in flight", flush=True)
    service.stop()
    return 0


def _started_line(service: Service) -> str:
    """`ready: ...`, or, while a configured broker does not answer, what the parts wait for
    (they retry on their own; /health/ready of an HTTP part says when they are ready)."""
    parts = ", ".join(service.parts)
    if service.bootstrap_servers and service.broker is None:
        try:
            KafkaProbe(service.bootstrap_servers, timeout=BROKER_PROBE_SECONDS)()
        except Exception as error:
            return (
                f"started: running {parts}; the Kafka broker at {service.bootstrap_servers} "
                f"does not answer ({error}): retrying"
            )
    return f"ready: running {parts}"


def _print_dev_tokens(app: GiftCertificates) -> None:
    """One token per role, for trying the API on the generated (development) secret."""
    secret = configured_jwt_secret(app.settings)
    hours = int(DEV_TOKEN_TTL.total_seconds() // 3600)
    print(f"development tokens (valid {hours} h; GCP_JWT_SECRET is not set):")
    for role in Role:
        token = mint_token(secret, f"dev-{role}", [role], DEV_TOKEN_TTL)
        print(f"  {role}: Authorization: Bearer {token}")


def token(app: GiftCertificates, args: argparse.Namespace) -> int:
    """Prints a bearer token for the HTTP API, signed with the configured secret."""
    print(
        mint_token(
            configured_jwt_secret(app.settings), args.sub, args.role, timedelta(seconds=args.ttl)
        )
    )
    return 0


def stream_republish(app: GiftCertificates, args: argparse.Namespace) -> int:
    """Publishes the stream's history again, with the same eventIds, to a real Kafka."""
    servers = app.settings.kafka_bootstrap_servers or running_address(app.settings.var_dir)
    if servers is None:
        print(
            "gcp: no Kafka to republish to: set GCP_KAFKA_BOOTSTRAP_SERVERS to the cluster "
            "that consumers read, or run `gcp serve` on the embedded broker first",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    topic = args.topic or app.settings.topic_stream
    newest = app.store.recorder.max_notification_id() or 0
    if newest < args.start:
        print(f"nothing to republish: the newest position is {newest}")
        return 0
    bar = ProgressBar(newest - args.start + 1, f"republishing to {topic}")
    try:
        done = republish(
            app,
            {"bootstrap.servers": servers},
            topic,
            start=args.start,
            progress=bar.advance,
        )
    except RepublishStalled as error:
        bar.finish()
        print(f"gcp: {error}", file=sys.stderr)
        return EXIT_FAILED
    bar.finish()
    print(f"republished {done.messages} messages of positions {done.first}..{done.last} to {topic}")
    return 0


def stream_parked(app: GiftCertificates, args: argparse.Namespace) -> int:
    """Lists the messages the relay parked: the brokers refused them for good."""
    parked = Outbox(app.store).parked(limit=args.limit)
    if args.json:
        _print_json(
            [
                {
                    "position": p.position,
                    "destination": p.destination,
                    "size": p.size,
                    "error": p.error,
                    "parkedAt": rfc3339(p.parked_at),
                }
                for p in parked
            ]
        )
        return 0
    if not parked:
        print("no parked messages")
    for p in parked:
        print(
            f"{rfc3339(p.parked_at)}  notification {p.position} ({p.destination}, "
            f"{p.size} bytes): {p.error}"
        )
    return 0


# ---------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcp",
        description="GCP, the Gift Certificate Platform.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        parent: Any,
        name: str,
        handler: Callable[[GiftCertificates, argparse.Namespace], int],
        **kw: Any,
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, **kw)
        sub.set_defaults(handler=handler)
        return sub

    pool = commands.add_parser("pool", help="pre-created certificates").add_subparsers(
        dest="pool_command", required=True
    )
    generate = command(pool, "generate", pool_generate, help="pre-create certificates")
    generate.add_argument(
        "--pool", default=DEFAULT_POOL, help="the pool to fill (default: %(default)s)"
    )
    generate.add_argument(
        "--count", type=positive, required=True, help="how many certificates, 1 or more"
    )
    generate.add_argument(
        "--low-watermark",
        type=not_negative,
        help="for a pool this creates: POOL_LOW is published when fewer certificates are "
        "available (default: GCP_POOL_LOW_WATERMARK; an existing pool keeps its own)",
    )
    imported = command(pool, "import", pool_import, help="load a card vendor's CSV (number,cvc)")
    imported.add_argument(
        "file", help="a CSV file with the header number,cvc and one certificate a line"
    )
    imported.add_argument(
        "--pool", default=DEFAULT_POOL, help="the pool to fill (default: %(default)s)"
    )
    status = command(pool, "status", pool_status, help="pool levels")
    status.add_argument("--pool", help="only this pool (default: every pool)")
    status.add_argument("--json", action="store_true", help="one JSON array instead of lines")

    certificate = commands.add_parser("certificate", help="look up and audit").add_subparsers(
        dest="certificate_command", required=True
    )
    show = command(certificate, "show", certificate_show, help="current state object")
    show.add_argument("certificate", help=CERTIFICATE_HELP)
    history = command(certificate, "history", certificate_history, help="every event")
    history.add_argument("certificate", help=CERTIFICATE_HELP)
    at = command(certificate, "at", certificate_at, help="state at a version or an instant")
    at.add_argument("certificate", help=CERTIFICATE_HELP)
    at.add_argument(
        "--version", type=positive, help="the state after this many events (default: the last)"
    )
    at.add_argument(
        "--at",
        type=instant,
        help="the state at an RFC 3339 instant, e.g. 2026-11-26T10:00:00Z (default: now)",
    )

    stream = commands.add_parser("stream", help="the outbound stream").add_subparsers(
        dest="stream_command", required=True
    )
    again = command(
        stream,
        "republish",
        stream_republish,
        help="publish history again (same eventIds) to the stream topic",
    )
    again.add_argument(
        "--from",
        dest="start",
        type=positive,
        default=1,
        metavar="POSITION",
        help="first notification position (default 1: everything)",
    )
    again.add_argument("--topic", help="target topic (default: GCP_TOPIC_STREAM)")
    parked = command(
        stream,
        "parked",
        stream_parked,
        help="messages the brokers refused for good (too large, ...), parked by the relay",
    )
    parked.add_argument(
        "--limit", type=positive, default=1000, help="at most this many (default: %(default)s)"
    )
    parked.add_argument("--json", action="store_true", help="one JSON array instead of lines")

    minted = command(commands, "token", token, help="print a bearer token for the HTTP API")
    minted.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[role.value for role in Role],
        help="a role of the token (repeatable)",
    )
    minted.add_argument("--sub", required=True, help="who the token names (recorded as actor)")
    minted.add_argument(
        "--ttl", type=positive, default=3600, help="seconds it is valid (default: %(default)s)"
    )

    served = command(commands, "serve", serve, help="run the service")
    served.add_argument(
        "--pool", default=DEFAULT_POOL, help="the pool --stock fills (default: %(default)s)"
    )
    served.add_argument(
        "--stock",
        type=not_negative,
        default=None,
        help=(
            "keep at least this many certificates available in --pool (default: none; on the "
            f"embedded defaults, {FIRST_STOCK} once for a default pool that never had any)"
        ),
    )
    served.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part, repeatable (default: all of them in one process)",
    )

    # The demo talks to a running service over HTTP and Kafka: it opens no store of its own.
    walkthrough = commands.add_parser(
        "demo", help="drive the ten seed events against a running `gcp serve`"
    )
    walkthrough.set_defaults(standalone=demo.run)
    demo.add_arguments(walkthrough)

    # BI reads the topics (and, to reconcile, the store): its commands wire themselves.
    bi_command.add_arguments(commands.add_parser("bi", help="the BI marts and their report"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    standalone = getattr(args, "standalone", None)
    if standalone is not None:
        return int(standalone(args))
    try:
        app = build_application(Settings.from_env())
    except ConfigurationError as error:
        print(f"gcp: configuration: {error}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        code: int = args.handler(app, args)
        return code
    except DomainError as error:
        print(f"gcp: {error.message}", file=sys.stderr)
        return EXIT_REFUSED
    except ConfigurationError as error:
        print(f"gcp: configuration: {error}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        app.close()


if __name__ == "__main__":
    sys.exit(main())
