"""Settings from the environment, the event store chosen by URL, and the CVC key."""

from __future__ import annotations

import base64
import stat
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cryptography import AESCipher
from tests.integration.conftest import DURABLE
from tests.issuing import open_notification

from gcp_adapters.bootstrap import build_application, membership_config
from gcp_app.application import GiftCertificates
from gcp_app.errors import ConfigurationError
from gcp_app.persistence import describe, event_store_env
from gcp_app.recorders import PostgresInboxRecorder, SQLiteInboxRecorder
from gcp_app.sealing import KEY_FILE, CvcSealer, load_or_create_key
from gcp_app.settings import SETTINGS, Settings
from gcp_app.use_cases import IssueCertificate
from gcp_domain import Cause, Money, Recipient

ADMIN = Cause("admin:ops", "req", "req")


@pytest.fixture
def opened() -> Iterator[Callable[[Settings], GiftCertificates]]:
    """Opens applications on given settings and closes them afterwards."""
    apps: list[GiftCertificates] = []

    def open_app(settings: Settings) -> GiftCertificates:
        application = build_application(settings)
        apps.append(application)
        return application

    yield open_app
    for application in apps:
        application.close()


def disclosed_cvc(app: GiftCertificates, order_id: str) -> tuple[Any, str]:
    certificate_id = app.reservations.reserve_next(
        "default", channel="WEB", cause=ADMIN
    ).certificate_id
    app.execute(
        IssueCertificate(
            certificate_id=certificate_id,
            amount=Money.of("10.00"),
            channel="WEB",
            order_id=order_id,
            payment_ids=["P"],
            client_id=None,
            recipient=Recipient(),
            cause=ADMIN,
        )
    )
    notification_id = open_notification(app, certificate_id)
    return certificate_id, app.cvc.disclose(
        certificate_id, notification_id=notification_id, cause=ADMIN
    )


# ====================================================================== settings


def test_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.var_dir == Path("var")
    assert settings.database_url == f"sqlite:///{Path('var') / 'gcp.sqlite'}"
    assert settings.cipher_key is None
    assert settings.db_pool_size == 8
    assert settings.db_max_overflow == 8
    assert settings.db_connect_timeout == 5
    assert settings.db_max_waiting == 64
    assert settings.db_lock_timeout == 5
    assert settings.reservation_ttl == timedelta(minutes=15)
    assert settings.default_validity == timedelta(days=365)
    assert settings.default_currency == "RUB"
    assert settings.pool_low_watermark == 100
    assert settings.cvc_digits == 4


def test_every_setting_is_documented_with_a_gcp_name() -> None:
    names = [s.env for s in SETTINGS]

    assert len(names) == len(set(names))
    assert all(name.startswith("GCP_") for name in names)
    assert all(s.help for s in SETTINGS)
    assert "GCP_DATABASE_URL" in names
    assert "GCP_CIPHER_KEY" in names


def test_values_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "GCP_VAR_DIR": str(tmp_path),
            "GCP_DB_POOL_SIZE": "3",
            "GCP_RESERVATION_TTL_SECONDS": "60",
            "GCP_DEFAULT_VALIDITY_DAYS": "30",
            "GCP_DEFAULT_CURRENCY": "EUR",
            "GCP_CVC_DIGITS": "3",
            "GCP_POOL_LOW_WATERMARK": "",  # empty means unset
        }
    )

    assert settings.database_url == f"sqlite:///{tmp_path / 'gcp.sqlite'}"
    assert settings.db_pool_size == 3
    assert settings.reservation_ttl == timedelta(seconds=60)
    assert settings.default_validity == timedelta(days=30)
    assert settings.default_currency == "EUR"
    assert settings.cvc_digits == 3
    assert settings.pool_low_watermark == 100


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GCP_DB_POOL_SIZE", "eight"),
        ("GCP_DB_POOL_SIZE", "0"),
        ("GCP_DB_LOCK_TIMEOUT", "1.5"),
        ("GCP_RESERVATION_TTL_SECONDS", "-1"),
        ("GCP_DEFAULT_VALIDITY_DAYS", "0"),
        ("GCP_POOL_LOW_WATERMARK", "many"),
        ("GCP_CVC_DIGITS", "2"),
        ("GCP_CVC_DIGITS", "9"),
        ("GCP_KAFKA_SESSION_TIMEOUT_MS", "999"),
    ],
)
def test_bad_integers_are_configuration_errors(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("value", "shared"), [("", False), ("false", False), ("TRUE", True), ("1", True), ("no", False)]
)
def test_sharing_the_http_port_is_a_flag(value: str, shared: bool) -> None:
    assert Settings.from_env({"GCP_HTTP_REUSE_PORT": value}).http_reuse_port is shared


def test_a_flag_that_is_neither_true_nor_false_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="GCP_HTTP_REUSE_PORT must be true or false"):
        Settings.from_env({"GCP_HTTP_REUSE_PORT": "sometimes"})


def test_the_consumers_group_membership(tmp_path: Path) -> None:
    """Issue 12: a consumer killed with -9 left its partitions for the 45 s session timeout."""
    default = Settings.from_env({"GCP_VAR_DIR": str(tmp_path)})
    static = Settings.from_env(
        {
            "GCP_VAR_DIR": str(tmp_path),
            "GCP_KAFKA_INSTANCE_ID": " gcp-0 ",
            "GCP_KAFKA_SESSION_TIMEOUT_MS": "9000",
        }
    )

    assert membership_config(default) == {
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 2000,
    }
    assert membership_config(static) == {
        "session.timeout.ms": 9000,
        "heartbeat.interval.ms": 3000,
        "group.instance.id": "gcp-0",
    }


# ====================================================================== event store by URL


def test_memory_store() -> None:
    settings = Settings.from_env({"GCP_DATABASE_URL": "memory:"})

    assert event_store_env(settings) == {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def test_sqlite_store(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "gcp.sqlite"
    settings = Settings.from_env(
        {"GCP_DATABASE_URL": f"sqlite:///{path}", "GCP_DB_LOCK_TIMEOUT": "9"}
    )

    env = event_store_env(settings)

    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "9",
        "PROCESS_RECORDER_TOPIC": "gcp_app.recorders:SQLiteInboxRecorder",
        "CREATE_TABLE": "y",
    }
    assert path.parent.is_dir()


def test_postgres_store_sets_its_timeouts_explicitly() -> None:
    settings = Settings.from_env(
        {
            "GCP_DATABASE_URL": "postgresql://gcp:s%40cret@db.example:6543/gifts?schema=gcp_1",
            "GCP_DB_CONNECT_TIMEOUT": "7",
            "GCP_DB_MAX_WAITING": "11",
            "GCP_DB_LOCK_TIMEOUT": "4",
            "GCP_DB_POOL_SIZE": "6",
            "GCP_DB_MAX_OVERFLOW": "2",
        }
    )

    env = event_store_env(settings)

    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert env["POSTGRES_HOST"] == "db.example"
    assert env["POSTGRES_PORT"] == "6543"
    assert env["POSTGRES_DBNAME"] == "gifts"
    assert env["POSTGRES_USER"] == "gcp"
    assert env["POSTGRES_PASSWORD"] == "s@cret"
    assert env["POSTGRES_SCHEMA"] == "gcp_1"
    assert env["POSTGRES_CONNECT_TIMEOUT"] == "7"
    assert env["POSTGRES_MAX_WAITING"] == "11"
    assert env["POSTGRES_LOCK_TIMEOUT"] == "4"
    assert env["POSTGRES_POOL_SIZE"] == "6"
    assert env["POSTGRES_MAX_OVERFLOW"] == "2"
    assert env["CREATE_TABLE"] == "y"
    assert env["PROCESS_RECORDER_TOPIC"] == "gcp_app.recorders:PostgresInboxRecorder"
    assert "POSTGRES_ENABLE_DB_FUNCTIONS" not in env


def test_postgres_store_defaults() -> None:
    env = event_store_env(Settings.from_env({"GCP_DATABASE_URL": "postgres://localhost/gcp"}))

    assert env["POSTGRES_PORT"] == "5432"
    assert env["POSTGRES_USER"] == "postgres"
    assert env["POSTGRES_PASSWORD"] == ""
    assert env["POSTGRES_CONNECT_TIMEOUT"] == "5"
    assert env["POSTGRES_MAX_WAITING"] == "64"
    assert env["POSTGRES_LOCK_TIMEOUT"] == "5"
    assert "POSTGRES_SCHEMA" not in env
    assert "POSTGRES_ENABLE_DB_FUNCTIONS" not in env


@pytest.mark.parametrize(
    "url",
    ["mysql://localhost/gcp", "sqlite://relative", "sqlite:///", "postgresql:///gcp", "nonsense"],
)
def test_unusable_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        event_store_env(Settings.from_env({"GCP_DATABASE_URL": url}))


def test_describe_hides_the_password() -> None:
    assert describe("postgresql://gcp:hunter2@db:5432/gcp") == "postgresql://gcp:***@db:5432/gcp"
    assert describe("sqlite:///var/gcp.sqlite") == "sqlite:///var/gcp.sqlite"


@DURABLE
def test_the_application_opens_the_store_the_url_names(
    app: GiftCertificates, settings: Settings, tmp_path: Path
) -> None:
    app.pools.generate_certificates("default", 2, cause=ADMIN)

    if settings.database_url.startswith("sqlite"):
        assert isinstance(app.store.recorder, SQLiteInboxRecorder)
        assert (tmp_path / "gcp.sqlite").stat().st_size > 0
    else:
        assert isinstance(app.store.recorder, PostgresInboxRecorder)
        assert app.store.env["POSTGRES_SCHEMA"] in settings.database_url
        assert app.store.env.get("POSTGRES_ENABLE_DB_FUNCTIONS") is None
    assert app.pool_status("default").available == 2


# ====================================================================== the CVC key


def test_the_key_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"

    key = load_or_create_key(None, var_dir)
    again = load_or_create_key(None, var_dir)

    path = var_dir / KEY_FILE
    assert again == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert len(base64.b64decode(key)) == 32
    assert sorted(p.name for p in var_dir.iterdir()) == [KEY_FILE]  # no temporary left behind


@DURABLE
def test_a_restarted_application_reads_cvcs_with_the_key_it_made(
    app: GiftCertificates,
    make_app: Callable[[], GiftCertificates],
    settings: Settings,
) -> None:
    key_file = settings.var_dir / KEY_FILE
    app.pools.generate_certificates("default", 2, cause=ADMIN)
    certificate_id, _ = disclosed_cvc(app, "WEB-1")
    sealed = app.get_certificate(certificate_id).sealed_cvc
    key = key_file.read_text()

    restarted = make_app()

    assert key_file.read_text() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert restarted.sealer.unseal(sealed) == app.sealer.unseal(sealed)
    _, cvc = disclosed_cvc(restarted, "WEB-2")
    assert len(cvc) == 4


def test_a_configured_key_is_used(
    tmp_path: Path, database_url: str, opened: Callable[[Settings], GiftCertificates]
) -> None:
    key = AESCipher.create_key(16)
    settings = Settings.from_env(
        {
            "GCP_VAR_DIR": str(tmp_path / "var"),
            "GCP_DATABASE_URL": database_url,
            "GCP_CIPHER_KEY": key,
        }
    )
    app = opened(settings)
    app.pools.generate_certificates("default", 1, cause=ADMIN)

    certificate_id, cvc = disclosed_cvc(app, "WEB-1")

    assert not (tmp_path / "var" / KEY_FILE).exists()
    assert CvcSealer(key).unseal(app.get_certificate(certificate_id).sealed_cvc) == cvc
    other = CvcSealer(AESCipher.create_key(16))
    with pytest.raises(ValueError, match="cipher tag"):  # a foreign key cannot open it
        other.unseal(app.get_certificate(certificate_id).sealed_cvc)


def test_a_key_in_the_process_environment_seals_cvcs_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: Callable[[Settings], GiftCertificates]
) -> None:
    """eventsourcing reads GCP_<KEY> from os.environ for its own settings: GCP_CIPHER_KEY must
    not switch on its encryption of every stored event (which needs pycryptodome)."""
    key = AESCipher.create_key(16)
    monkeypatch.setenv("GCP_CIPHER_KEY", key)
    monkeypatch.setenv("GCP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GCP_DATABASE_URL", f"sqlite:///{tmp_path / 'gcp.sqlite'}")
    app = opened(Settings.from_env())
    app.pools.generate_certificates("default", 1, cause=ADMIN)

    assert app.store.factory.cipher() is None
    certificate_id, cvc = disclosed_cvc(app, "WEB-1")
    assert CvcSealer(key).unseal(app.get_certificate(certificate_id).sealed_cvc) == cvc


@pytest.mark.parametrize(
    "key",
    [
        "correct horse battery staple",
        base64.b64encode(b"ten bytes!").decode(),  # valid base64, not an AES key size
        "c2VjcmV0LXNlY3JldC1zZWNyZXQ",  # bad padding
    ],
)
def test_a_bad_key_is_refused_without_echoing_it(
    tmp_path: Path, database_url: str, key: str
) -> None:
    settings = Settings.from_env(
        {
            "GCP_VAR_DIR": str(tmp_path / "var"),
            "GCP_DATABASE_URL": database_url,
            "GCP_CIPHER_KEY": key,
        }
    )

    with pytest.raises(ConfigurationError, match="GCP_CIPHER_KEY") as refused:
        build_application(settings)

    assert key not in str(refused.value)
    assert key not in repr(refused.value)
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__
