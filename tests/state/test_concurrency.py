"""Concurrent writers lose no update: several OS processes CAS-update one document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.conftest import BUCKET

PROCESSES = 4
UPDATES = 100

# Each process increments a counter document UPDATES times through StateStore.update
# (conditional GET/PUT, retried on 412 with jittered backoff).
WRITER = f"""
from goman.aws.session import AwsContext
from goman.models.base import Document
from goman.state.store import StateStore


class Counter(Document):
    count: int = 0


def bump(doc):
    doc = doc or Counter()
    return doc.model_copy(update={{"count": doc.count + 1}})


store = StateStore(AwsContext.from_flag("team-a"))
for _ in range({UPDATES}):
    store.update("test/counter.json", Counter, bump, attempts=400)
"""


def test_concurrent_processes_lose_no_update(aws_env: dict[str, str], s3: Any) -> None:
    env = {**os.environ, **aws_env}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    body = s3.get_object(Bucket=BUCKET, Key="state/team-a/test/counter.json")["Body"].read()
    doc = json.loads(body)
    assert doc["count"] == PROCESSES * UPDATES
    assert doc["revision"] == PROCESSES * UPDATES
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="state/team-a/test/counter.json")
    assert len(versions["Versions"]) == PROCESSES * UPDATES
