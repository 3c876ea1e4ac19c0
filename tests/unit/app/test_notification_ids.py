"""notificationIds: nobody can derive one from a certificateId (contract 1.1), but GCP names
the same request again (a batch run again after a crash)."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from gcp_app.notification_ids import NotificationIds

CERTIFICATE = UUID("6f1c1b8e-7d3e-4c2b-9a4e-1d2c3b4a5f60")


def test_the_same_key_names_the_same_request() -> None:
    ids = NotificationIds.from_cvc_key("a-cvc-key")
    assert ids.for_request(CERTIFICATE, 1) == NotificationIds.from_cvc_key("a-cvc-key").for_request(
        CERTIFICATE, 1
    )
    UUID(ids.for_request(CERTIFICATE, 1))  # a UUID, as CRM expects


def test_each_attempt_and_each_certificate_has_its_own() -> None:
    ids = NotificationIds.from_cvc_key("a-cvc-key")
    names = {ids.for_request(c, attempt) for c in (CERTIFICATE, uuid4()) for attempt in (1, 2)}
    assert len(names) == 4


def test_without_the_key_the_id_cannot_be_derived_from_the_certificate_id() -> None:
    """Issue 11, item 4: they were uuid5(namespace, certificateId/attempt)."""
    ours = NotificationIds.from_cvc_key("a-cvc-key").for_request(CERTIFICATE, 1)
    assert ours != NotificationIds.from_cvc_key("another-key").for_request(CERTIFICATE, 1)
    old_rule = uuid5(uuid5(NAMESPACE_URL, "urn:gcp:notification"), f"{CERTIFICATE}/1")
    assert ours != str(old_rule)


def test_the_key_never_shows() -> None:
    ids = NotificationIds.from_cvc_key("a-cvc-key")
    assert repr(ids) == "NotificationIds()"
