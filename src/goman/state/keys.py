"""The key layout under `state/{profile}/` (DESIGN.md section 4). Keys here are relative."""

from __future__ import annotations

CONFIG = "config.json"
INDEX = "clusters/clusters.json"
# Beside jobs/, not in it: jobs/ holds only job documents, named by job id.
QUEUE = "queue.json"
JOBS_DIR = "jobs/"
CLUSTERS_DIR = "clusters/"
# The conditional-write probe: its record, and the scratch keys it writes and removes.
PROBE_DIR = "probe/"
PROBE_RECORD = "probe/conditional-writes.json"
PROBE_SCRATCH_PREFIX = "probe/scratch-"


def cluster_state(name: str) -> str:
    return f"clusters/{name}.state.json"


def cluster_dir(name: str) -> str:
    """Per-cluster artefacts: node reports, kubeconfig, join secret."""
    return f"clusters/{name}/"


def cluster_artefact(name: str, path: str) -> str:
    return f"clusters/{name}/{path}"


def job(job_id: str) -> str:
    return f"jobs/{job_id}.json"


def is_cluster_state(rel: str) -> bool:
    return rel.startswith(CLUSTERS_DIR) and rel.endswith(".state.json") and rel.count("/") == 1


def cluster_name_of(rel: str) -> str:
    return rel[len(CLUSTERS_DIR) : -len(".state.json")]
