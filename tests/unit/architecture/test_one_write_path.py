"""Every change of a certificate goes through a use case (gcp_app.use_cases): no adapter, and
nothing else in the application (the inbound matching, the timers, the CVC desk), calls a
`GiftCertificate` command itself.

Read from the source with `ast`, like the import direction: a call is found in every module,
whether or not a test happens to run it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from gcp_domain import rules
from gcp_domain.certificate import GiftCertificate

SRC = Path(__file__).resolve().parents[3] / "src"
# Where certificate commands may be called: the domain itself (its rules, its harness) and the
# use cases.
ALLOWED = ("gcp_domain/", "gcp_app/use_cases/")
# Calls that share a command's name but whose receiver is no certificate (the checker reads
# names, not types): module -> the calls as written.
NOT_CERTIFICATES = {
    "gcp_adapters/http/bounded_head.py": {"self._head_timer.cancel"},  # an asyncio timer
}


def certificate_commands() -> frozenset[str]:
    """The public commands of a GiftCertificate (its rules' methods), and its creation."""
    mixins = [rules.SaleRules, rules.NotificationRules, rules.RedemptionRules]
    mixins += [rules.RefundRules, rules.SupportRules]
    names = {
        name
        for mixin in mixins
        for name, member in vars(mixin).items()
        if callable(member) and not name.startswith("_")
    }
    assert all(callable(getattr(GiftCertificate, name)) for name in names)
    return frozenset({*names, "create"})


def command_calls(source: str, commands: frozenset[str]) -> Iterator[tuple[int, str]]:
    """(line, call) of every call of a method named like a certificate command, except a
    class's calls of its own methods (`self.reserve()` in a class that defines `reserve`)."""
    tree = ast.parse(source)
    own: dict[ast.AST, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            for inner in ast.walk(node):
                own[inner] = methods
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name not in commands:
            continue
        receiver = node.func.value
        if isinstance(receiver, ast.Name) and receiver.id == "self" and name in own.get(node, ()):
            continue
        yield node.lineno, ast.unparse(node.func)


def offences(commands: frozenset[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith(ALLOWED):
            continue
        other = NOT_CERTIFICATES.get(relative, set())
        calls = [
            f"{line}: {call}"
            for line, call in command_calls(path.read_text(), commands)
            if call not in other
        ]
        if calls:
            found[relative] = calls
    return found


def test_only_the_use_cases_call_certificate_commands() -> None:
    assert offences(certificate_commands()) == {}


def test_the_commands_are_the_certificates_public_rules() -> None:
    commands = certificate_commands()
    assert {"issue", "redeem", "start_refund", "lock_for", "expire", "cancel"} <= commands
    assert "is_redeemable" not in commands  # a query


@pytest.mark.parametrize(
    "source",
    [
        "def settle(work, cid):\n    work.certificate(cid).redeem(payment_id='P')\n",
        "class Matcher:\n    def go(self, certificate):\n        certificate.issue(amount=1)\n",
        "class Desk:\n    def go(self):\n        self.lock_for(reason='x')\n",
    ],
)
def test_the_checker_finds_a_direct_command_call(source: str) -> None:
    assert list(command_calls(source, certificate_commands()))


def test_the_checker_lets_a_class_call_its_own_method() -> None:
    source = "class Demo:\n    def reserve(self): ...\n    def run(self):\n        self.reserve()\n"
    assert list(command_calls(source, certificate_commands())) == []
