"""What the domain refuses, each with a stable code that adapters map to their own errors."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no. `code` is stable; the message is for people and never holds a secret."""

    code = "domain-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidMoney(DomainError, ValueError):
    code = "invalid-money"


class InvalidCertificateNumber(DomainError, ValueError):
    code = "invalid-certificate-number"


class InvalidCommand(DomainError, ValueError):
    """The command's own arguments are wrong, whatever the certificate's state."""

    code = "invalid-command"


class TransitionNotAllowed(DomainError):
    """The certificate's state does not allow this command."""

    code = "transition-not-allowed"


class RefundRejected(DomainError):
    code = "refund-rejected"


class ReversalRejected(DomainError):
    code = "reversal-rejected"


class CvcNotAvailable(DomainError):
    """No open notification request for this notificationId (or the certificate is not usable)."""

    code = "cvc-not-available"


class CvcAlreadyDisclosed(DomainError):
    code = "cvc-already-disclosed"


class ConflictingDuplicate(DomainError):
    """A redelivery (same topic and messageId) whose facts differ from the first delivery's:
    the first stays applied, this one is refused (contract 1.1: dedup by (topic, messageId))."""

    code = "conflicting-duplicate"
