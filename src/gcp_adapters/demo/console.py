"""What the demo says (stdout, flushed at once: a newcomer watches it step by step), what it
complains about (stderr), and how a step fails."""

from __future__ import annotations

import sys


class DemoFailed(Exception):
    """A step did not get the answer or the publication it waited for."""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def complain(text: str) -> None:
    sys.stderr.write(f"gcp demo: {text}\n")
