"""Every command has its use case, and every kind of due item its matching rule; anything else
is refused, never carried out as something it is not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from gcp_app import use_cases
from gcp_app.defaults import Defaults
from gcp_app.inbound.settling import Settler
from gcp_app.notification_ids import NotificationIds
from gcp_app.use_cases import CertificateCommand, Command, Context, UseCases
from gcp_app.use_cases.runner import HANDLERS
from gcp_domain import Cause
from gcp_domain.order import SalesOrder


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 1, tzinfo=UTC)


def runner() -> UseCases:
    store: Any = object()  # never reached: nothing here is executed alone
    context = Context(_Clock(), Defaults(), NotificationIds(b"test-key"))
    return UseCases(store, context)


def test_every_command_has_its_use_case() -> None:
    commands = {
        member
        for member in vars(use_cases).values()
        if isinstance(member, type)
        and issubclass(member, Command)
        and member not in (Command, CertificateCommand)
    }
    assert commands == set(HANDLERS)
    assert len(commands) == 15


def test_a_command_without_a_use_case_is_refused() -> None:
    @attrs.frozen(kw_only=True)
    class Unknown(Command[bool]):
        pool: str

    unknown = Unknown(pool="x", cause=Cause("test", "t", "t"))
    with pytest.raises(TypeError, match="no use case for Unknown"):
        runner().run(object(), unknown)  # type: ignore[arg-type]


def test_a_due_item_without_a_matching_rule_is_refused() -> None:
    @attrs.frozen
    class SomethingNew:
        certificate_id: str

    cause = Cause("test", "t", "t")
    order = SalesOrder(order_id="WEB-1", cause=cause)
    settler = Settler(runner(), Defaults())
    unknown: Any = SomethingNew("x")
    with pytest.raises(TypeError, match="no matching rule settles SomethingNew"):
        settler.carry_out(object(), order, unknown, cause)  # type: ignore[arg-type]
