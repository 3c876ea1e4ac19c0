"""What every use case shares: its command, its context and its handler's shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar
from uuid import UUID

import attrs

from gcp_app.clock import Clock
from gcp_app.defaults import Defaults
from gcp_app.notification_ids import NotificationIds
from gcp_app.use_cases.unit_of_work import UnitOfWork
from gcp_domain.cause import Cause

R = TypeVar("R")


@attrs.frozen(kw_only=True)
class Command(Generic[R]):
    """A business operation asked for, as a value; `R` is what its use case answers.

    Subclasses are frozen attrs classes, one per operation. Each carries its `Cause`: who
    asked (a token's subject, `kafka:All_Payments`, `timer:expiry`, `cli:root`) and why."""

    cause: Cause


@attrs.frozen(kw_only=True)
class CertificateCommand(Command[R]):
    """A change of the certificate the caller names."""

    certificate_id: UUID


@attrs.frozen
class Context:
    """What a use case may need besides its unit of work: the business clock, defaults, and
    how notification requests are named."""

    clock: Clock
    defaults: Defaults
    notification_ids: NotificationIds


# A use case: `handler(context, work, command) -> result`.
Handler = Callable[[Context, UnitOfWork, Any], Any]
