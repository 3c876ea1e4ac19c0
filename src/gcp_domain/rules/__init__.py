"""The rules of the GiftCertificate's commands, one module per concern.

`GiftCertificate` (gcp_domain.certificate) holds the state, the events and how each event
changes the state: all that replaying history needs. These mixins hold the public commands:
what may happen, checked before the aggregate records anything. A rule changed here never
changes how stored events replay.
"""

from gcp_domain.rules.notification import NotificationRules
from gcp_domain.rules.redemption import RedemptionRules
from gcp_domain.rules.refund import RefundRules
from gcp_domain.rules.sale import SaleRules
from gcp_domain.rules.support import SupportRules

__all__ = ["NotificationRules", "RedemptionRules", "RefundRules", "SaleRules", "SupportRules"]
