"""A state document bigger than 16 MiB is refused with its key and size, never parsed.

Whoever can write to the bucket could otherwise make every goman of the team read and parse
hundreds of megabytes (a 45 MB index cost 416 MB of memory). Both read paths are covered:
the standard-library fast path and botocore.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from goman.aws.errors import GomanError
from goman.aws.session import AwsContext
from goman.models.cluster import ClusterIndex
from goman.state.store import StateStore
from tests.conftest import BUCKET

MIB = 1024 * 1024
INDEX_KEY = "state/default/clusters/clusters.json"


def _oversized(size: int) -> bytes:
    # Valid JSON, so nothing but its size can make goman refuse it.
    return b'{"clusters": {}, "padding": "' + b"x" * (size - 31) + b'"}'


@pytest.fixture
def big_index(goman: Any, s3: Any) -> int:
    assert goman("init").exit_code == 0
    body = _oversized(17 * MIB)
    s3.put_object(Bucket=BUCKET, Key=INDEX_KEY, Body=body)
    return len(body)


def test_cluster_list_refuses_an_oversized_index(goman: Any, big_index: int) -> None:
    res = goman("cluster", "list")
    assert res.exit_code == 1, res.output
    assert "clusters/clusters.json" in res.stderr
    assert "17.0 MiB" in res.stderr and "16 MiB" in res.stderr
    assert "goman state" in res.stderr  # the fix names a way out
    assert "Traceback" not in res.output


@pytest.mark.parametrize("fast_path", [True, False], ids=["stdlib", "botocore"])
def test_both_read_paths_refuse_before_parsing(
    aws_env: dict[str, str], big_index: int, fast_path: bool
) -> None:
    ctx = AwsContext.from_flag(None)
    if not fast_path:
        ctx = AwsContext(profile="default", explicit_profile=False, _lite=None)
    store = StateStore(ctx)
    assert (store.ctx.lite is not None) is fast_path
    with pytest.raises(GomanError) as err:
        store.get("clusters/clusters.json", ClusterIndex)
    assert "clusters/clusters.json" in err.value.message
    assert f"{big_index / MIB:.1f} MiB" in err.value.message


def test_polling_refuses_an_oversized_index(aws_env: dict[str, str], big_index: int) -> None:
    store = StateStore(AwsContext.from_flag(None))
    with pytest.raises(GomanError) as err:
        store.get_if_changed("clusters/clusters.json", ClusterIndex, '"an-older-etag"')
    assert "clusters/clusters.json" in err.value.message


def test_a_document_of_exactly_16_mib_is_still_read(aws_env: dict[str, str], s3: Any) -> None:
    store = StateStore(AwsContext.from_flag(None))
    store.get("config.json", ClusterIndex)  # creates the bucket
    s3.put_object(Bucket=BUCKET, Key=INDEX_KEY, Body=_oversized(16 * MIB))
    body, _, _ = store.get_bytes("clusters/clusters.json")
    assert len(body) == 16 * MIB


# VmHWM is this process's own peak resident memory (ru_maxrss would include the parent's
# at the time of the fork).
MEASURE = (
    "from goman.cli.main import main\n"
    "try:\n"
    "    main(['cluster', 'list'])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "status = open('/proc/self/status').read()\n"
    "peak = next(int(l.split()[1]) for l in status.splitlines() if l.startswith('VmHWM:'))\n"
    "print(code, peak // 1024)\n"
)


def test_an_oversized_index_costs_no_memory(goman: Any, s3: Any, aws_env: dict[str, str]) -> None:
    """A 48 MiB index: goman's peak memory stays far below the document's size."""
    assert goman("init").exit_code == 0
    s3.put_object(Bucket=BUCKET, Key=INDEX_KEY, Body=_oversized(48 * MIB))
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE],
        env={**os.environ, **aws_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    code, peak_mib = proc.stdout.split()
    assert code == "1", proc.stderr
    assert "48.0 MiB" in proc.stderr
    assert int(peak_mib) < 48, f"peak {peak_mib} MiB"


def test_the_fix_it_names_works(goman: Any, s3: Any) -> None:
    """`state restore` replaces an oversized current version without reading it."""
    assert goman("init").exit_code == 0
    assert goman("cluster", "list").exit_code == 0
    good = goman("config", "set", "workers", "2")
    assert good.exit_code == 0
    versions = goman("state", "history", "config.json", "-o", "json").json()
    s3.put_object(Bucket=BUCKET, Key="state/default/config.json", Body=_oversized(17 * MIB))
    assert goman("config", "show").exit_code == 1
    restored = goman(
        "state", "restore", "config.json", "--version", versions[0]["version_id"], "--yes"
    )
    assert restored.exit_code == 0, restored.output
    assert goman("config", "get", "workers").stdout == "2\n"
