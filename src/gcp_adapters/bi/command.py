"""The `gcp bi` commands: run, build, reconcile, report (docs/bi.md).

    gcp bi build                 land what the topics hold, rebuild the marts, exit
    gcp bi run                   land continuously, rebuild every GCP_BI_BUILD_SECONDS
    gcp bi reconcile             the marts' liability against GCP's event store
    gcp bi report --out DIR      index.html, the charts (PNG, SVG), the marts (CSV)

Exit status: 0 done (and, for reconcile, in agreement); 1 a dbt test failed or the
reconciliation found differences; 2 bad input or configuration (a one-line error).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gcp_adapters.cli.arguments import EXIT_FAILED, EXIT_REFUSED, positive
from gcp_app.errors import ConfigurationError
from gcp_app.settings import Settings

if TYPE_CHECKING:
    from gcp_adapters.bi.dbt_run import BuildResult

# What `gcp bi` needs beyond GCP itself: the `bi` extra. Imported only when a `gcp bi` command
# runs, so that `gcp serve` and the rest work without it.
EXTRA: Final = ("duckdb", "pyarrow", "dbt.cli.main", "altair", "vl_convert")


def say(text: str) -> None:
    print(text, flush=True)


def complain(text: str) -> int:
    print(f"gcp bi: {text}", file=sys.stderr, flush=True)
    return EXIT_REFUSED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`gcp bi ...`: the subcommands, each with its options."""
    commands = parser.add_subparsers(dest="bi_command", required=True, metavar="COMMAND")
    bootstrap_help = (
        "Kafka brokers (default: GCP_KAFKA_BOOTSTRAP_SERVERS, else the embedded broker of "
        "the `gcp serve` running with this GCP_VAR_DIR)"
    )
    built = commands.add_parser(
        "build", help="land what the four topics hold until they are idle, rebuild the marts"
    )
    built.add_argument("--bootstrap", metavar="ADDRESS", help=bootstrap_help)
    built.add_argument(
        "--reconcile",
        action="store_true",
        help="then reconcile with GCP's event store, as `gcp bi reconcile` (default: off)",
    )
    built.add_argument(
        "--verbose", action="store_true", help="show dbt's own output (default: off)"
    )
    built.set_defaults(standalone=build)
    ran = commands.add_parser(
        "run",
        help="land continuously and rebuild the marts every GCP_BI_BUILD_SECONDS "
        "(default 60) until SIGTERM",
    )
    ran.add_argument("--bootstrap", metavar="ADDRESS", help=bootstrap_help)
    ran.set_defaults(standalone=run)
    reconciled = commands.add_parser(
        "reconcile",
        help="compare the marts' outstanding liability with GCP's event store "
        "(exit 1 on any difference)",
    )
    reconciled.add_argument(
        "--limit",
        type=positive,
        default=50,
        help="list at most this many differing certificates (default 50)",
    )
    reconciled.set_defaults(standalone=reconcile)
    reported = commands.add_parser(
        "report", help="write DIR/index.html with the charts (PNG, SVG) and the marts as CSV"
    )
    reported.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="the report's directory (required)"
    )
    reported.set_defaults(standalone=report)


def _missing_extra() -> str | None:
    """What to say if a module of the `bi` extra is not installed; None if all are."""
    for module in EXTRA:
        try:
            importlib.import_module(module)
        except ImportError:
            return f"gcp bi needs the bi extra ({module} is missing): pip install 'gcp[bi]'"
    return None


def _describe(result: BuildResult) -> int:
    if result.success:
        say(f"bi: marts built: {result.models} models, {result.tests} tests passed")
        return 0
    for failure in result.failures:
        first = failure.message.strip().splitlines()[:3]
        complain(f"{failure.status}: {failure.node}: {' '.join(first)}")
    say(f"bi: marts build FAILED: {len(result.failures)} of {result.models + result.tests}")
    return EXIT_FAILED


def _configured(args: argparse.Namespace) -> tuple[Settings, str]:
    """The settings and the brokers; ConfigurationError if either is missing or wrong, or
    if the `bi` extra is not installed."""
    missing = _missing_extra()
    if missing is not None:
        raise ConfigurationError(missing)
    from gcp_adapters.bi.pipeline import bootstrap_servers  # noqa: PLC0415 - the extra

    settings = Settings.from_env()
    return settings, bootstrap_servers(settings, args.bootstrap)


def build(args: argparse.Namespace) -> int:
    try:
        settings, bootstrap = _configured(args)
    except ConfigurationError as error:
        return complain(f"configuration: {error}")
    import duckdb  # noqa: PLC0415 - the extra

    from gcp_adapters.bi.ingest import IngestStalled  # noqa: PLC0415
    from gcp_adapters.bi.pipeline import Places, build_marts, land_until_idle  # noqa: PLC0415

    places = Places.of(settings)
    started = time.monotonic()
    try:
        landed = land_until_idle(settings, bootstrap, places)
    except IngestStalled as error:
        return complain(f"ingest: {error} (Kafka at {bootstrap})")
    except duckdb.IOException as error:
        return complain(f"the landing cannot be opened ({error}); is `gcp bi run` running?")
    say(f"bi: landed {landed} new messages in {time.monotonic() - started:.1f} s")
    code = _describe(build_marts(settings, places, quiet=not args.verbose))
    say(f"bi: marts at {places.marts}")
    if code == 0 and args.reconcile:
        return reconcile(argparse.Namespace(limit=50))
    return code


def run(args: argparse.Namespace) -> int:
    try:
        settings, bootstrap = _configured(args)
    except ConfigurationError as error:
        return complain(f"configuration: {error}")
    from gcp_adapters.bi.pipeline import Places, run_forever  # noqa: PLC0415 - the extra

    stop = threading.Event()

    def stopping(signum: int, _: object) -> None:
        say(f"bi: stopping ({signal.Signals(signum).name})")
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    places = Places.of(settings)
    say(
        f"bi: landing from {bootstrap} into {places.landing}, marts at {places.marts} "
        f"rebuilt every {settings.bi_build_seconds} s"
    )
    run_forever(settings, bootstrap, places, stop, say)
    say("bi: stopped")
    return 0


def _reading_marts(read: Callable[[Settings], int]) -> int:
    """Runs `read`, a command that reads the marts, with the settings; says in one line (exit
    2) why it cannot: the `bi` extra missing, a bad setting, the marts absent or being built."""
    missing = _missing_extra()
    if missing is not None:
        return complain(missing)
    import duckdb  # noqa: PLC0415 - the extra

    try:
        return read(Settings.from_env())
    except ConfigurationError as error:
        return complain(f"configuration: {error}")
    except FileNotFoundError as error:
        return complain(str(error))
    except duckdb.IOException as error:
        return complain(f"the marts cannot be read now ({error}); is a build running?")


def reconcile(args: argparse.Namespace) -> int:
    return _reading_marts(lambda settings: _reconcile(settings, args.limit))


def _reconcile(settings: Settings, limit: int) -> int:
    from gcp_adapters.bi.reconcile import reconcile as compare  # noqa: PLC0415 - the extra
    from gcp_adapters.bootstrap import build_application  # noqa: PLC0415 - only here

    app = build_application(settings)
    try:
        outcome = compare(app, settings.bi_database)
    finally:
        app.close()
    currencies = sorted(
        outcome.marts_by_currency.keys()
        | outcome.store_by_currency.keys()
        | outcome.closing_by_currency.keys()
    )
    for currency in currencies or ["-"]:
        say(
            f"bi: {currency}: marts {outcome.marts_by_currency.get(currency, 0)} "
            f"(liability_daily closing {outcome.closing_by_currency.get(currency, 0)}), "
            f"event store {outcome.store_by_currency.get(currency, 0)}"
        )
    for difference in outcome.differences[:limit]:
        say(
            f"bi: differs: certificate {difference.certificate_id} ({difference.currency}): "
            f"marts {difference.marts}, event store {difference.store}"
        )
    if outcome.agrees:
        say(f"bi: reconciled: {outcome.certificates} certificates agree")
        return 0
    say(f"bi: NOT reconciled: {len(outcome.differences)} certificates differ")
    return EXIT_FAILED


def report(args: argparse.Namespace) -> int:
    return _reading_marts(lambda settings: _report(settings, args.out))


def _report(settings: Settings, out: Path) -> int:
    from gcp_adapters.bi.report import write_report  # noqa: PLC0415 - the extra

    if out.exists() and not out.is_dir():
        return complain(f"--out {out} is not a directory")
    written = write_report(settings.bi_database, out)
    say(f"bi: report at {written[0]} ({len(written)} files)")
    return 0
