"""CVCs: drawn, sealed, disclosed once per notification request, never stored or shown in plain.

The plain-text checks use 8-digit CVCs: a 4-digit one could turn up by chance inside a UUID or a
timestamp of the stored state, and the search would prove nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.certificates import originator_ids, record_sent
from tests.integration.conftest import make_settings
from tests.issuing import ADMIN, POOL, issued, open_notification

from gcp_adapters.bootstrap import build_application
from gcp_app.application import GiftCertificates
from gcp_domain import Cause, GiftCertificate
from gcp_domain.errors import CvcAlreadyDisclosed, CvcNotAvailable

CRM = Cause("crm", "req-cvc", "notify")


@pytest.fixture
def app8(tmp_path: Path, database_url: str, clock: Any) -> Iterator[GiftCertificates]:
    """An application whose generated CVCs have 8 digits."""
    settings = make_settings(tmp_path, database_url, GCP_CVC_DIGITS="8")
    application = build_application(settings, clock=clock)
    yield application
    application.close()


def test_a_disclosed_cvc_has_the_configured_digits(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)
    certificate_id = issued(app, "WEB-1")
    notification_id = open_notification(app, certificate_id)

    cvc = app.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)

    assert len(cvc) == 4
    assert cvc.isascii()
    assert cvc.isdigit()


def test_a_cvc_is_disclosed_once_per_request(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)
    certificate_id = issued(app, "WEB-1")
    notification_id = open_notification(app, certificate_id)
    cvc = app.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)

    with pytest.raises(CvcAlreadyDisclosed) as twice:
        app.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)
    with pytest.raises(CvcNotAvailable) as wrong:
        app.cvc.disclose(certificate_id, notification_id="someone-elses", cause=CRM)

    assert cvc not in str(twice.value)
    assert cvc not in str(wrong.value)
    disclosed = [e for e in app.history(certificate_id) if e.event == "CvcDisclosed"]
    assert len(disclosed) == 1
    assert disclosed[0].details == {"notificationId": notification_id}
    assert disclosed[0].actor == "crm"


def test_the_cvc_is_stored_sealed(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)
    certificate_id = issued(app, "WEB-1")
    notification_id = open_notification(app, certificate_id)
    cvc = app.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)
    sealed = app.get_certificate(certificate_id).sealed_cvc

    assert sealed != cvc
    assert app.sealer.unseal(sealed) == cvc
    # A fresh nonce each time: equal CVCs never look alike when sealed.
    assert app.sealer.seal(cvc) != app.sealer.seal(cvc)


def test_the_plain_cvc_is_never_stored_or_shown(app8: GiftCertificates) -> None:
    app8.pools.generate_certificates(POOL, 5, cause=ADMIN)
    certificate_id = issued(app8, "WEB-1")
    notification_id = open_notification(app8, certificate_id)
    cvc = app8.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)
    record_sent(app8, certificate_id, notification_id, CRM)
    # Every certificate's CVC, disclosed or not, is looked for.
    certificates = [app8.get_certificate(i) for i in originator_ids(app8, GiftCertificate.Created)]
    cvcs = {app8.sealer.unseal(c.sealed_cvc) for c in certificates}
    stored = app8.store.recorder.select_notifications(start=1, limit=100_000)

    assert len(cvc) == 8
    assert cvc in cvcs
    assert len(cvcs) == 5
    # The search is meaningful: the stored state is readable, the number is found in plain.
    number = app8.get_certificate(certificate_id).number
    assert any(number.encode() in n.state for n in stored)
    for plain in cvcs:
        assert not any(plain.encode() in n.state for n in stored)
        for certificate in certificates:
            shown = json.dumps(app8.current_object(certificate.id))
            history = json.dumps([e.as_json() for e in app8.history(certificate.id)])
            assert plain not in shown
            assert plain not in history
            assert certificate.sealed_cvc not in shown
            assert certificate.sealed_cvc not in history
            assert "sealedCvc" not in history
            assert "cvc" not in app8.current_object(certificate.id)
