"""Start-up stays cheap: `goman --help` and `cluster list` load no Kubernetes library, no
cryptography and none of goman's Kubernetes modules."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

HEAVY = (
    "lightkube",
    "httpx2",
    "httpcore2",
    "cryptography",
    "goman.kube",
    "goman.provision.pki",
    "goman.sandbox.kubeapi",
)

REPORT = (
    "import sys\n"
    "from goman.cli.main import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    assert exc.code in (0, None), exc.code\n"
    f"heavy = {HEAVY!r}\n"
    "print('LOADED:', sorted(m for m in sys.modules if m.startswith(heavy)))\n"
)


def _loaded(args: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", REPORT, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_help_loads_no_kubernetes_code() -> None:
    assert _loaded(["--help"]) == "LOADED: []"
    assert _loaded(["cluster", "--help"]) == "LOADED: []"


def test_cluster_list_loads_no_kubernetes_code(goman: Any, aws_env: dict[str, str]) -> None:
    assert goman("init").exit_code == 0
    assert _loaded(["cluster", "list", "-o", "json"], aws_env) == "LOADED: []"
