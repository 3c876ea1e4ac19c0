"""Loading a card vendor's CSV: every row or none, every bad line named, no CVC in any message.

`import_certificates` (behind `gcp pool import FILE`) refuses a file whole if any line is
bad (`VendorImportRejected` with every bad line); otherwise it stores all rows
in one transaction, and refuses them all if any number already exists.
"""

from __future__ import annotations

from uuid import UUID

import pytest

from gcp_app.application import GiftCertificates
from gcp_app.errors import VendorImportRejected
from gcp_app.stock import draw_number as fresh_number
from gcp_domain import Cause, CertificatePool, GiftCertificate

ADMIN = Cause("admin:ops", "req-import", "vendor-batch-7")
POOL = "vendor"


def import_file(app: GiftCertificates, pool: str, text: str) -> int:
    return app.pools.import_certificates(
        pool, text.splitlines(keepends=True), source="vendor.csv", cause=ADMIN
    )


def grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def with_wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def levels(app: GiftCertificates, pool: str) -> tuple[int, int, int, int]:
    status = app.pool_status(pool)
    return status.available, status.reserved, status.issued, status.cancelled


def test_a_good_file_imports_every_row(app: GiftCertificates) -> None:
    numbers = [fresh_number().value for _ in range(5)]
    cvcs = ["123", "0042", "98765", "31337", "00000007"]
    lines = ["Number,CVC,Batch"]
    lines += [f"{grouped(n)},{c},B-7" for n, c in zip(numbers, cvcs, strict=True)]

    assert import_file(app, POOL, "\n".join(lines) + "\n") == 5

    assert levels(app, POOL) == (5, 0, 0, 0)
    for number, cvc in zip(numbers, cvcs, strict=True):
        certificate_id = app.find_by_number(number)
        assert certificate_id is not None
        certificate = app.get_certificate(certificate_id)
        assert certificate.pool == POOL
        assert certificate.number == number
        assert app.sealer.unseal(certificate.sealed_cvc) == cvc
    added = [
        app.store.mapper.to_domain_event(n)
        for n in app.store.recorder.select_notifications(
            start=1, limit=1000, topics=[CertificatePool.CertificatesAdded.TOPIC]
        )
    ]
    assert [(e.count, e.source) for e in added] == [(5, "vendor.csv")]


def test_every_bad_line_is_reported_and_nothing_is_imported(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)
    good = [fresh_number().value for _ in range(3)]
    bad_luhn = with_wrong_check_digit(fresh_number().value)
    text = "\n".join(
        [
            "number,cvc",
            f"{good[0]},1234",  # 2
            f"{bad_luhn},7351",  # 3
            f"{good[1][:-1]},2468",  # 4: 15 digits
            f"{good[1]},12a4",  # 5: letters in the CVC
            f"{good[1]},97",  # 6: too short a CVC
            f"{good[2]},5555",  # 7
            f"{grouped(good[2])},5556",  # 8: the same number again
            f"{good[1]},8642",  # 9: the first good line of good[1]
        ]
    )

    with pytest.raises(VendorImportRejected) as rejected:
        import_file(app, POOL, text)

    problems = dict(rejected.value.problems)
    assert sorted(problems) == [3, 4, 5, 6, 8]
    assert "check digit" in problems[3]
    assert "16 digits" in problems[4]
    assert "CVC" in problems[5]
    assert "CVC" in problems[6]
    assert "line 7" in problems[8]
    message = str(rejected.value)
    assert message.startswith("5 bad rows, nothing imported")
    for line in (3, 4, 5, 6, 8):
        assert f"line {line}:" in message
    for cvc in ("1234", "7351", "2468", "12a4", "5555", "5556", "8642"):
        assert cvc not in message
        assert all(cvc not in reason for reason in problems.values())
    assert levels(app, POOL) == (3, 0, 0, 0)
    for number in good:
        assert app.find_by_number(number) is None


def test_a_file_without_the_header_is_refused(app: GiftCertificates) -> None:
    number = fresh_number().value

    for text in (f"{number},4321\n", f"number,code\n{number},4321\n", ""):
        with pytest.raises(VendorImportRejected) as rejected:
            import_file(app, POOL, text)
        assert [line for line, _ in rejected.value.problems] == [1]
        assert "4321" not in str(rejected.value)

    with pytest.raises(VendorImportRejected, match="no certificates"):
        import_file(app, POOL, "number,cvc\n")
    assert app.find_by_number(number) is None
    assert POOL not in app.pool_names()


def test_a_number_that_exists_rejects_the_whole_file(app: GiftCertificates) -> None:
    app.pools.generate_certificates("default", 4, cause=ADMIN)
    existing = next(
        app.get_certificate(UUID(str(n.originator_id))).number
        for n in app.store.recorder.select_notifications(
            start=1, limit=10, topics=[GiftCertificate.Created.TOPIC]
        )
    )
    new = [fresh_number().value for _ in range(3)]
    text = f"number,cvc\n{new[0]},1111\n{new[1]},2222\n{existing},3333\n{new[2]},4444\n"
    created_before = len(
        app.store.recorder.select_notifications(
            start=1, limit=1000, topics=[GiftCertificate.Created.TOPIC]
        )
    )

    with pytest.raises(VendorImportRejected) as rejected:
        import_file(app, POOL, text)

    assert rejected.value.problems == [(4, "the number belongs to an existing certificate")]
    for cvc in ("1111", "2222", "3333", "4444"):
        assert cvc not in str(rejected.value)
    assert levels(app, POOL) == (0, 0, 0, 0)
    assert levels(app, "default") == (4, 0, 0, 0)
    for number in new:
        assert app.find_by_number(number) is None
    created_after = app.store.recorder.select_notifications(
        start=1, limit=1000, topics=[GiftCertificate.Created.TOPIC]
    )
    assert len(created_after) == created_before

    # The same file into the pool that holds the number: refused as well.
    with pytest.raises(VendorImportRejected):
        import_file(app, "default", text)
    assert levels(app, "default") == (4, 0, 0, 0)

    # Without the taken line, the file goes in.
    fixed = "\n".join(line for line in text.splitlines() if existing not in line)
    assert import_file(app, POOL, fixed) == 3
    assert levels(app, POOL) == (3, 0, 0, 0)


def test_imported_certificates_are_reserved_like_generated_ones(app: GiftCertificates) -> None:
    numbers = [fresh_number().value for _ in range(2)]
    import_file(app, POOL, f"number,cvc\n{numbers[0]},111\n{numbers[1]},222\n")

    granted = {
        app.reservations.reserve_next(POOL, channel="WEB", cause=ADMIN).number for _ in range(2)
    }

    assert granted == set(numbers)
    assert levels(app, POOL) == (0, 2, 0, 0)
