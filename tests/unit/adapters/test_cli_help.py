"""Every option of every `gcp` command says what it is and, where it has one, its default."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from gcp_adapters.cli.main import build_parser


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Each command that runs something (a leaf of the command tree), with its path."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for action in subparsers:
        for name, sub in action.choices.items():
            yield from commands(sub, (*path, name))


COMMANDS = dict(commands(build_parser()))


def test_the_walk_finds_the_commands() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"pool generate", "pool import", "serve", "demo", "stream parked", "token"} <= names


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_option_has_help_and_states_its_default(path: tuple[str, ...]) -> None:
    for action in COMMANDS[path]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"gcp {' '.join(path)} {name}: no help text"
        stated = action.default in (None, False) or "default" in action.help
        assert stated, f"gcp {' '.join(path)} {name}: the default {action.default!r} is not stated"
