"""Running `gcp` as a newcomer does (a separate process, its own environment), and a free port
to tell a service and its clients."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    """A port nobody listens on now: for a service whose address a client must know."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_gcp(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 120.0, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`gcp <args>` run to its end, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "gcp_adapters.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )
