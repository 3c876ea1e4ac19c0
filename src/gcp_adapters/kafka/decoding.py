"""Inbound Kafka values (JSON bytes) into the application's message classes.

The wire formats are docs/contracts/{sales-order,payment,client}.schema.json. Decoding is
strict where the schemas are and lenient where they are:

- JSON is read with `parse_float=Decimal`, so a JSON number never passes through a float; a
  money field takes a JSON number (an integer becomes a Decimal too) or a string in the JSON
  number grammar. A money string outside that grammar is `invalid-money`; negative amounts and
  excess fractional digits are the domain's `Money` to refuse later (also `invalid-money`).
- camelCase keys become snake_case fields; unknown keys are ignored; `null` is the same as an
  absent key, so the field's default applies (and a required field sent as null is missing).
- UUIDs, RFC 3339 timestamps (`Z` or an offset), ISO 4217 currencies (three uppercase letters),
  arrays (read into tuples) and objects are checked for their type.

Whether a valid message is about gift certificates is the matcher's decision, not the decoder's:
`decode` returns every valid message. A value that cannot be used gives a `Problem` whose reason
names fields and what they must be, never a value (reasons end up in logs and on the DLQ).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import UnionType
from typing import Any, Final, TypeVar, Union, get_args, get_origin
from uuid import UUID

import attrs
from cattrs import Converter
from cattrs.errors import (
    AttributeValidationNote,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from gcp_app.inbound.envelopes import Problem
from gcp_app.inbound.messages import (
    WIRE_CLASSES,
    ClientMessage,
    Customer,
    GiftCertificateLine,
    InboundMessage,
    NotificationResult,
    PaymentMessage,
    RedemptionLine,
    SalesOrderMessage,
)
from gcp_domain.money import ISO_4217
from gcp_domain.text import IDENTIFIER_LIMIT

T = TypeVar("T")

NOT_JSON: Final = "not-json"
INVALID_MESSAGE: Final = "invalid-message"
INVALID_MONEY: Final = "invalid-money"

# At most this many field problems are named in one reason (the rest are counted).
MAX_REASONS: Final = 5

_MONEY_TEXT: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_CURRENCY: Final = re.compile(r"[A-Z]{3}")
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_TIMESTAMP: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
NOTIFICATION_CHANNELS: Final = ("EMAIL", "SMS", "NONE")
NOTIFICATION_RESULTS: Final = ("SENT", "FAILED")
MIN_VALIDITY_DAYS: Final = 1
MAX_VALIDITY_DAYS: Final = 36_500


class TopicKind(StrEnum):
    """Which of the three inbound contracts a topic carries (its name is configurable)."""

    SALES_ORDER = "sales-order"
    PAYMENT = "payment"
    CLIENT = "client"


DEFAULT_TOPICS: Final = {
    TopicKind.SALES_ORDER: "All_SalesOrder",
    TopicKind.PAYMENT: "All_Payments",
    TopicKind.CLIENT: "All_Clients",
}


@attrs.frozen
class InboundTopics:
    """The configured names of the three inbound topics."""

    sales_order: str = DEFAULT_TOPICS[TopicKind.SALES_ORDER]
    payments: str = DEFAULT_TOPICS[TopicKind.PAYMENT]
    clients: str = DEFAULT_TOPICS[TopicKind.CLIENT]

    def __attrs_post_init__(self) -> None:
        names = self.names
        if any(not name for name in names):
            raise ValueError("inbound topic names must not be empty")
        if len(set(names)) != len(names):
            raise ValueError("the three inbound topics must have different names")

    @property
    def names(self) -> tuple[str, str, str]:
        return (self.sales_order, self.payments, self.clients)

    def kind_of(self, topic: str) -> TopicKind | None:
        return {
            self.sales_order: TopicKind.SALES_ORDER,
            self.payments: TopicKind.PAYMENT,
            self.clients: TopicKind.CLIENT,
        }.get(topic)


# ---------------------------------------------------------------------- leaf checks


class _Invalid(ValueError):
    """A value that breaks the schema: `expectation` says what it must be (never the value).

    `path` is where it is below the field whose hook raised it (for cross-field checks)."""

    def __init__(
        self, expectation: str, *, code: str = INVALID_MESSAGE, path: tuple[str, ...] = ()
    ) -> None:
        super().__init__(expectation)
        self.expectation = expectation
        self.code = code
        self.path = path


def _string(value: object, _: object = None) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value


def _identifier(value: object, _: object = None) -> str:
    """An id or a code: 1 to 200 characters (contract 1.1: "A messageId is at most 200
    characters"; GCP holds every other id to the same bound, as it records them all)."""
    text = _bounded(value)
    if not text:
        raise _Invalid("must not be empty")
    return text


def _optional_identifier(value: object, _: object = None) -> str | None:
    """An optional id: absent or null, or a string of at most 200 characters (whether it may
    be empty is the message's rule: `_payment_rules`)."""
    return None if value is None else _bounded(value)


def _bounded(value: object) -> str:
    text = _string(value)
    if len(text) > IDENTIFIER_LIMIT:
        raise _Invalid(f"must be at most {IDENTIFIER_LIMIT} characters")
    return text


def _one_of(*allowed: str) -> Callable[[object, object], str]:
    expectation = "must be " + " or ".join(allowed)

    def check(value: object, _: object = None) -> str:
        if value not in allowed:
            raise _Invalid(expectation)
        assert isinstance(value, str)
        return value

    return check


def _money(value: object, _: object = None) -> Decimal:
    if isinstance(value, bool):
        raise _Invalid("must be a decimal number (a string or a JSON number)")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):  # a JSON number with a fraction or an exponent
        return value
    if isinstance(value, str):
        if not _MONEY_TEXT.fullmatch(value):
            raise _Invalid(
                "must be a decimal number in the JSON number grammar", code=INVALID_MONEY
            )
        return Decimal(value)
    raise _Invalid("must be a decimal number (a string or a JSON number)")


def _currency(value: object, _: object = None) -> str:
    if not (isinstance(value, str) and _CURRENCY.fullmatch(value)):
        raise _Invalid("must be an ISO 4217 code of three uppercase letters")
    if value not in ISO_4217:
        raise _Invalid("must be an ISO 4217 currency")
    return value


def _uuid(value: object, _: object = None) -> UUID:
    if not (isinstance(value, str) and _UUID.fullmatch(value)):
        raise _Invalid("must be a UUID")
    return UUID(value)


def _timestamp(value: object, _: object = None) -> datetime:
    if not (isinstance(value, str) and _TIMESTAMP.fullmatch(value)):
        raise _Invalid("must be an RFC 3339 timestamp with Z or an offset")
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:
        raise _Invalid("must be an RFC 3339 timestamp with Z or an offset") from None


def _validity_days(value: object, _: object = None) -> int:
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)  # 365.0 is an integer in JSON Schema
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("must be a whole number of days")
    if not MIN_VALIDITY_DAYS <= value <= MAX_VALIDITY_DAYS:
        raise _Invalid(f"must be between {MIN_VALIDITY_DAYS} and {MAX_VALIDITY_DAYS}")
    return value


def camel_key(name: str) -> str:
    """The wire's key for a field: `gift_certificates` is `giftCertificates`."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _int(value: object, _: object = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("must be an integer")
    return value


# ---------------------------------------------------------------------- the converter


def _payment_rules(message: PaymentMessage) -> PaymentMessage:
    """The schema's conditional requirements: a certificate payment names the certificate."""
    if not message.certificate_number:
        if message.event_type == "REDEMPTION":
            raise _Invalid("is required for a REDEMPTION", path=("certificateNumber",))
        if message.method == "GIFT_CERTIFICATE":
            raise _Invalid("is required for method GIFT_CERTIFICATE", path=("certificateNumber",))
    return message


# Per class (of messages.WIRE_CLASSES): fields with a stricter check than their type's, and a
# check across fields.
_FIELD_HOOKS: Final[dict[type[Any], dict[str, Callable[[object, object], Any]]]] = {
    GiftCertificateLine: {
        "validity_days": _validity_days,
        "notification_channel": _one_of(*NOTIFICATION_CHANNELS),
    },
    RedemptionLine: {"certificate_number": _identifier},
    SalesOrderMessage: {
        "message_id": _identifier,
        "event_type": _identifier,
        "order_id": _identifier,
        "currency": _currency,
        "channel": _optional_identifier,
    },
    PaymentMessage: {
        "message_id": _identifier,
        "event_type": _identifier,
        "payment_id": _identifier,
        "order_id": _identifier,
        "method": _identifier,
        "currency": _currency,
        "certificate_number": _optional_identifier,
        "refund_of": _optional_identifier,
    },
    NotificationResult: {
        "notification_id": _identifier,
        "result": _one_of(*NOTIFICATION_RESULTS),
    },
    ClientMessage: {"message_id": _identifier, "client_id": _identifier},
    Customer: {"client_id": _optional_identifier},
}
_RULES: Final[dict[type[Any], Callable[[Any], Any]]] = {PaymentMessage: _payment_rules}


def _is_sequence(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_optional(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) in (Union, UnionType) and len(args) == 2 and type(None) in args


def make_converter() -> Converter:
    """A cattrs converter from parsed JSON (Decimal numbers) to gcp_app.inbound.messages classes.

    Optional fields and arrays get hooks made once per type (factories) that call their item
    hook directly: cattrs' own look the item hook up again on every value, which was a third
    of the time spent structuring."""
    converter = Converter(detailed_validation=True, forbid_extra_keys=False)
    converter.register_structure_hook(str, _string)
    converter.register_structure_hook(int, _int)
    converter.register_structure_hook(Decimal, _money)
    converter.register_structure_hook(UUID, _uuid)
    converter.register_structure_hook(datetime, _timestamp)

    def optional(type_: Any) -> Callable[[object, object], Any]:
        inner = next(arg for arg in get_args(type_) if arg is not type(None))
        hook = converter.get_structure_hook(inner)

        def structure(value: object, _: object = None) -> Any:
            return None if value is None else hook(value, inner)

        return structure

    def sequence(type_: Any) -> Callable[[object, object], tuple[Any, ...]]:
        item_type = get_args(type_)[0]
        hook = converter.get_structure_hook(item_type)

        def structure(value: object, _: object = None) -> tuple[Any, ...]:
            if not isinstance(value, list):
                raise _Invalid("must be an array")
            items, errors = [], []
            for index, item in enumerate(value):
                try:
                    items.append(hook(item, item_type))
                except Exception as error:  # collected like cattrs does
                    error.__notes__ = [
                        *getattr(error, "__notes__", []),
                        IterableValidationNote(f"@ index {index}", index, item_type),
                    ]
                    errors.append(error)
            if errors:
                raise IterableValidationError(f"While structuring {type_!r}", errors, type_)
            return tuple(items)

        return structure

    converter.register_structure_hook_factory(_is_sequence, sequence)
    converter.register_structure_hook_factory(_is_optional, optional)

    # Inner classes first: a class's generated function looks up its fields' hooks now.
    for cls in WIRE_CLASSES:
        hooks = _FIELD_HOOKS.get(cls, {})
        converter.register_structure_hook(cls, _object_hook(converter, cls, hooks))
    return converter


def _object_hook(
    converter: Converter, cls: type[T], hooks: Mapping[str, Callable[[object, object], Any]]
) -> Callable[[object, object], T]:
    overrides = {
        field.name: override(rename=camel_key(field.name), struct_hook=hooks.get(field.name))
        for field in attrs.fields(cls)  # type: ignore[arg-type]
    }
    structure = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
    rule = _RULES.get(cls)

    def hook(value: object, _: object = None) -> T:
        if not isinstance(value, dict):
            raise _Invalid("must be an object")
        # null is the same as absent: the field's default applies (a required one is missing).
        if None in value.values():
            value = {k: v for k, v in value.items() if v is not None}
        built = structure(value, cls)
        return rule(built) if rule else built

    return hook


_CONVERTER: Final = make_converter()
_CLASSES: Final[dict[TopicKind, type[InboundMessage]]] = {
    TopicKind.SALES_ORDER: SalesOrderMessage,
    TopicKind.PAYMENT: PaymentMessage,
    TopicKind.CLIENT: ClientMessage,
}


# ---------------------------------------------------------------------- decoding


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# One decoder for every message: json.loads with options builds a new one (and its scanner)
# per call, a few percent of the consumer's time.
_JSON: Final = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def parse_json(value: bytes) -> object:
    """Strict UTF-8 JSON; numbers with a fraction or exponent become Decimal, never float."""
    text = value.decode("utf-8")
    if text.startswith("\ufeff"):  # as json.loads: a BOM is refused, not skipped
        raise json.JSONDecodeError("Unexpected UTF-8 BOM", text, 0)
    return _JSON.decode(text)


def readable_message_id(value: bytes | None) -> str | None:
    """The messageId of a message that could not be decoded, if it can be read at all."""
    try:
        document = parse_json(value or b"")
    except (ValueError, RecursionError):
        return None
    found = document.get("messageId") if isinstance(document, dict) else None
    return found if isinstance(found, str) and found else None


def decode(kind: TopicKind, key: bytes | None, value: bytes | None) -> InboundMessage | Problem:
    """The message in `value` (a Kafka record of a `kind` topic), or why it cannot be used.

    `key` is not interpreted: the contract keys by orderId / clientId for partitioning only.
    A valid message is returned whether or not it is about gift certificates.
    """
    del key
    if value is None:
        return Problem(NOT_JSON, "the message has no value (a tombstone)")
    try:
        document = parse_json(value)
    except UnicodeDecodeError:
        return Problem(NOT_JSON, "the value is not UTF-8 text")
    except (ValueError, RecursionError):
        return Problem(NOT_JSON, "the value is not JSON")
    if not isinstance(document, dict):
        return Problem(NOT_JSON, "the value is not a JSON object")
    cls = _CLASSES[kind]
    try:
        message: InboundMessage = _CONVERTER.structure(document, cls)
    except Exception as error:  # every failure becomes a dead letter
        return _problem(error)
    return message


def _problem(error: BaseException) -> Problem:
    found = list(_leaves(error, ()))
    codes = {_code(leaf) for _, leaf in found}
    code = INVALID_MONEY if codes == {INVALID_MONEY} else INVALID_MESSAGE
    texts = [_describe(path, leaf) for path, leaf in found[:MAX_REASONS]]
    if len(found) > MAX_REASONS:
        texts.append(f"and {len(found) - MAX_REASONS} more")
    return Problem(code, "; ".join(texts) or "the message does not match its schema")


def _code(error: BaseException) -> str:
    return error.code if isinstance(error, _Invalid) else INVALID_MESSAGE


def _leaves(
    error: BaseException, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], BaseException]]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner, path + _noted(inner))
    elif isinstance(error, _Invalid):
        yield (path + error.path, error)
    else:
        yield (path, error)


def _noted(error: BaseException) -> tuple[str | int, ...]:
    for note in getattr(error, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return (camel_key(note.name),)
        if isinstance(note, IterableValidationNote):
            return (note.index,)
    return ()


def _describe(path: tuple[str | int, ...], error: BaseException) -> str:
    where = ""
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
    where = where or "the message"
    if isinstance(error, _Invalid):
        return f"{where} {error.expectation}"
    if isinstance(error, KeyError):
        return f"{where} is required"
    return f"{where} is invalid"
