"""The cluster use cases, shared by the CLI and the TUI. No printing, no prompts.

A mutating use case validates everything first, then writes the desired state and a job:
the state document (by CAS, which is where "one mutating job per cluster" is enforced),
then the job (its queue entry, then its document) and, at the same time, the index row.
The documents those writes replace are read together up front (one round trip), so each
write goes out with If-Match on a version already in hand. Running the job is the
worker's business (`goman.jobs.worker`), in the foreground of the CLI, in the TUI or in
`goman worker`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from goman.aws.errors import (
    AlreadyExistsError,
    ConflictError,
    GomanError,
    NotFoundError,
    UsageError,
)
from goman.aws.parallel import both
from goman.clusters import index
from goman.clusters.index import list_clusters as list_clusters  # re-exported for the faces
from goman.clusters.state import find_cluster, load_cluster, update_cluster, valid_name
from goman.jobs import queue
from goman.jobs.plan import new_job_id, steps_for
from goman.models.cluster import ClusterDoc, ClusterIndex, ClusterSpec, ClusterStatus
from goman.models.config import AppConfig
from goman.models.job import Job, JobQueue, JobType
from goman.state import keys
from goman.state.store import StateStore, Versioned

# Read up front by every mutating use case: what its writes replace, and the config the
# worker that runs the job needs (its lease length).
_SHARED: list[tuple[str, type[Any]]] = [
    (keys.CONFIG, AppConfig),
    (keys.QUEUE, JobQueue),
    (keys.INDEX, ClusterIndex),
]


def _read_with_shared(store: StateStore, rel: str | None = None) -> Versioned[Any] | None:
    """`rel` (if given) and the shared documents, read at once; returns `rel`'s."""
    wanted = [(rel, ClusterDoc)] if rel else []
    # Meanwhile the S3 client the writes need is made (the reads may not need it).
    _, got = both(lambda: store.s3, lambda: store.get_many([*wanted, *_SHARED]))
    return got[0] if rel else None


def _spec(**values: Any) -> ClusterSpec:
    try:
        return ClusterSpec(**values)
    except ValidationError as exc:
        problems = "; ".join(
            str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors()
        )
        raise UsageError(
            f"Invalid cluster settings: {problems}.", "See `goman cluster create --help`."
        ) from None


def create_cluster(
    store: StateStore,
    name: str,
    *,
    mode: str | None = None,
    workers: int | None = None,
    instance_type: str | None = None,
    region: str | None = None,
    k3s_version: str | None = None,
    api_cidrs: list[str] | None = None,
    ready_timeout: float | None = None,
    on_warning: Callable[[str], None] | None = None,
    protected: bool = False,
) -> Job:
    """Write the spec of a new cluster and its create job (not run here).

    Everything is checked before the first write: the settings themselves, then the
    region and instance type against what EC2 offers (those lookups run while the config
    is read). `on_warning` hears about a Kubernetes API open to the whole internet."""
    from goman.clusters.checks import open_api_warning, open_to_everyone, resolve_api_cidrs
    from goman.provision.placement import PlacementCheck

    valid_name(name)
    if ready_timeout is not None and ready_timeout <= 0:
        raise UsageError("The timeout must be positive.", "Example: --timeout 15m")
    placement = PlacementCheck(store.ctx)
    if region:
        placement.expect(region, instance_type)
    _read_with_shared(store)
    known = store.known(keys.CONFIG, AppConfig)
    config = known.doc if known else AppConfig()
    spec = _spec(
        name=name,
        mode=mode or config.mode,
        workers=config.workers if workers is None else workers,
        instance_type=instance_type or config.instance_type,
        region=region or config.region,
        k3s_version=k3s_version or config.k3s_version,
        api_cidrs=resolve_api_cidrs(list(api_cidrs)) if api_cidrs else list(config.api_cidrs),
        protected=protected,
    )
    placement.check(spec.region, spec.instance_type)
    job_id = new_job_id()
    by = store.ctx.caller_arn
    doc = ClusterDoc(
        cluster_id=secrets.token_hex(12),
        spec=spec,
        status=ClusterStatus(phase="Pending", message="Waiting for a worker.", job_id=job_id),
        created_by=by,
    )
    try:
        created = store.create(keys.cluster_state(name), doc).doc
    except AlreadyExistsError:
        raise AlreadyExistsError(
            f"Cluster {name!r} already exists (profile '{store.ctx.profile}').",
            f"Pick another name, or look at it with `goman cluster get {name}`.",
        ) from None
    params: dict[str, Any] = {}
    if ready_timeout is not None:
        params["ready_timeout"] = ready_timeout
    job, _ = both(
        lambda: queue.enqueue(store, _job(job_id, "create", created, by, params)),
        lambda: index.upsert(store, created),
    )
    everyone = open_to_everyone(spec.api_cidrs)
    if everyone and on_warning is not None:
        on_warning(open_api_warning(name, everyone))
    return job


def _job(
    job_id: str,
    job_type: JobType,
    doc: ClusterDoc,
    by: str,
    params: dict[str, Any],
    *,
    retry: bool = False,
) -> Job:
    return Job(
        id=job_id,
        type=job_type,
        cluster=doc.name,
        cluster_id=doc.cluster_id,
        params=params,
        steps=steps_for(job_type, retry=retry),
        created_by=by,
    )


def _free_or_raise(store: StateStore, doc: ClusterDoc) -> str | None:
    """The job id the cluster names if that job is over (a stale lock), else raise."""
    held = doc.status.job_id
    if held is None:
        return None
    got = store.get(keys.job(held), Job)
    if got is None or got.doc.finished:
        return held
    job = got.doc
    raise ConflictError(
        f"Cluster {doc.name!r} is busy: {job.type} job {job.id} is {job.status}"
        + (f" (step {job.current_step.name})" if job.current_step else "")
        + ".",
        f"Wait for it (`goman jobs show {job.id}`), or cancel it with `goman jobs cancel {job.id}`.",
    )


def _found(job: Job | None, name: str) -> Job:
    """The job, or the error for a cluster that does not exist (any more)."""
    if job is None:
        raise NotFoundError(f"Cluster {name!r} does not exist.", "See `goman cluster list`.")
    return job


def _start_job(
    store: StateStore,
    name: str,
    job_type: JobType,
    mutate: Callable[[ClusterDoc], ClusterDoc],
    params: dict[str, Any],
    *,
    retry: bool = False,
) -> Job | None:
    """Take the cluster's job slot by CAS and enqueue the job. None if the cluster is gone."""
    for attempt in range(5):
        if attempt == 0:
            got = _read_with_shared(store, keys.cluster_state(valid_name(name)))
        else:
            got = find_cluster(store, name)
        if got is None:
            return None
        stale = _free_or_raise(store, got.doc)
        job_id = new_job_id()
        lost = False

        def change(doc: ClusterDoc, stale: str | None = stale, job_id: str = job_id) -> ClusterDoc:
            nonlocal lost
            if doc.status.job_id not in {None, stale}:
                lost = True
                return doc
            doc.status.job_id = job_id
            doc.status.job_step = None
            return mutate(doc)

        rows = index.IndexWriter(store)  # the row is written while the job is queued
        try:
            doc = update_cluster(store, name, change, rows=rows)
            if doc is None:
                return None
            if lost:
                continue  # someone took the slot between the check and the write: look again
            return queue.enqueue(
                store, _job(job_id, job_type, doc, store.ctx.caller_arn, params, retry=retry)
            )
        finally:
            rows.flush()
    raise ConflictError(
        f"Cluster {name!r} keeps changing under this command.", "Try again in a moment."
    )


def scale_cluster(
    store: StateStore,
    name: str,
    workers: int,
    *,
    ready_timeout: float | None = None,
    drain_timeout: float | None = None,
    force: bool = False,
) -> Job | None:
    """Set the number of agents; the job launches or removes (highest-numbered first: each
    cordoned, drained within `drain_timeout`, its Node deleted, then terminated; `force`
    goes on when a drain cannot finish).

    None, and no job, when a Running cluster already has that many: nothing to do."""
    valid_name(name)
    if not 0 <= workers <= 100:
        raise UsageError(f"--workers must be 0..100, not {workers}.", "Example: --workers 3")
    if drain_timeout is not None and drain_timeout <= 0:
        raise UsageError("The drain timeout must be positive.", "Example: --drain-timeout 5m")
    current = load_cluster(store, name)
    refuse_stopped(current, "scaled")
    if (
        current.spec.workers == workers
        and current.status.phase == "Running"
        and current.status.job_id is None
    ):
        return None
    params: dict[str, Any] = {"workers": workers, "previous_workers": current.spec.workers}
    if ready_timeout is not None:
        params["ready_timeout"] = ready_timeout
    if drain_timeout is not None:
        params["drain_timeout"] = drain_timeout
    if force:
        params["force"] = True

    def mutate(doc: ClusterDoc) -> ClusterDoc:
        refuse_stopped(doc, "scaled")
        if doc.status.phase != "Running":
            raise UsageError(
                f"Cluster {name!r} is {doc.status.phase}; only a Running cluster can be scaled.",
                f"See why with `goman cluster get {name}`.",
            )
        doc.spec.workers = workers
        doc.status.phase = "Scaling"
        doc.status.message = f"Scaling to {workers} worker(s)."
        return doc

    job = _start_job(store, name, "scale", mutate, params)
    return _found(job, name)


def replacement_plan(doc: ClusterDoc) -> list[dict[str, str]]:
    """The nodes a retry replaces: those whose bootstrap reported `failed`.

    If server-0 failed, every node goes: the others were told to join the old server-0's
    private address, which the new server-0 will not have. Nodes that merely did not report
    in time are kept; the retry waits for them again."""
    failed = {n.name for n in doc.status.nodes if n.phase == "failed"}
    server0 = f"{doc.name}-server-0"
    chosen = [
        n for n in doc.status.nodes if n.instance_id and (n.name in failed or server0 in failed)
    ]
    return [{"node": n.name, "instance_id": str(n.instance_id)} for n in chosen]


def retry_cluster(
    store: StateStore,
    name: str,
    *,
    ready_timeout: float | None = None,
    drain_timeout: float | None = None,
    force: bool | None = None,
) -> Job:
    """Queue another run of a Failed cluster's create or scale, replacing failed nodes.

    The job has the failed job's type and steps, preceded by `replace-failed`; which nodes
    (and which of their instances) it replaces is fixed here, in the job's params."""
    valid_name(name)
    if ready_timeout is not None and ready_timeout <= 0:
        raise UsageError("The timeout must be positive.", "Example: --timeout 15m")
    current = load_cluster(store, name)
    if current.status.phase != "Failed":
        raise UsageError(
            f"Cluster {name!r} is {current.status.phase}; only a Failed cluster can be retried.",
            f"See it with `goman cluster get {name}`.",
        )
    last_id = current.status.last_job_id
    got = store.get(keys.job(last_id), Job) if last_id else None
    if got is None:
        raise UsageError(
            f"Cluster {name!r} is Failed, but its last job"
            + (f" ({last_id})" if last_id else "")
            + " is no longer recorded, so there is nothing to retry.",
            f"Delete it with `goman cluster delete {name}` and create it again.",
        )
    failed_job = got.doc
    if failed_job.type == "delete":
        raise UsageError(
            f"Cluster {name!r} failed while being deleted; a delete is not retried this way.",
            f"Run `goman cluster delete {name}` again: it removes what is left and verifies.",
        )
    job_type: JobType = failed_job.type
    params: dict[str, Any] = {"retry_of": failed_job.id}
    timeout = ready_timeout or failed_job.params.get("ready_timeout")
    if timeout is not None:
        params["ready_timeout"] = timeout
    # A scale-down whose drain could not finish is retried with more time, or forced.
    drain = drain_timeout or failed_job.params.get("drain_timeout")
    if drain is not None:
        params["drain_timeout"] = drain
    if force or (force is None and failed_job.params.get("force")):
        params["force"] = True
    if job_type in RESUMED:
        # Nothing is drained there: drain settings belong to creates and scales.
        params.pop("drain_timeout", None)
        params.pop("force", None)
        return _resume(store, name, failed_job, params)

    def mutate(doc: ClusterDoc) -> ClusterDoc:
        if doc.status.phase != "Failed":
            raise UsageError(
                f"Cluster {name!r} is {doc.status.phase}; only a Failed cluster can be retried.",
                f"See it with `goman cluster get {name}`.",
            )
        # Decided on the very version of the document that takes the job slot.
        params["replace"] = replacement_plan(doc)
        if job_type == "scale":
            params["workers"] = doc.spec.workers
        replacing = ", ".join(p["node"] for p in params["replace"])
        doc.status.phase = "Provisioning" if job_type == "create" else "Scaling"
        doc.status.message = "Retry queued" + (
            f": {replacing} will be replaced." if replacing else "."
        )
        return doc

    job = _start_job(store, name, job_type, mutate, params, retry=True)
    return _found(job, name)


def protected_error(name: str) -> GomanError:
    """What a delete of a protected cluster says (the CLI and the TUI alike)."""
    return GomanError(
        f"Cluster {name!r} is protected from deletion; nothing was changed.",
        f"Remove the protection first with `goman cluster unprotect {name}`, then delete it.",
    )


def set_protected(store: StateStore, name: str, protected: bool) -> ClusterDoc:
    """Turn deletion protection on or off (allowed while a job runs: it changes no resource)."""
    valid_name(name)

    def change(doc: ClusterDoc) -> ClusterDoc | None:
        if doc.spec.protected == protected:
            return None
        if protected and doc.status.phase == "Deleting":
            raise UsageError(
                f"Cluster {name!r} is being deleted already; it cannot be protected now.",
                f"Follow the delete with `goman cluster get {name}`.",
            )
        doc.spec.protected = protected
        return doc

    rows = index.IndexWriter(store)
    try:
        doc = update_cluster(store, name, change, rows=rows)
    finally:
        rows.flush()
    if doc is None:
        raise NotFoundError(
            f"Cluster {name!r} does not exist (profile '{store.ctx.profile}').",
            "See the clusters there are with `goman cluster list`.",
        )
    return doc


# Failed jobs a retry runs again as they were (their steps find what is done already).
RESUMED: dict[JobType, tuple[str, str]] = {
    "upgrade": ("Upgrading", "Retrying the upgrade to K3s {version}."),
    "stop": ("Stopping", "Retrying the stop."),
    "start": ("Starting", "Retrying the start."),
}


def _resume(store: StateStore, name: str, failed_job: Job, params: dict[str, Any]) -> Job:
    phase, message = RESUMED[failed_job.type]
    if failed_job.type == "upgrade":
        params["k3s_version"] = failed_job.params.get("k3s_version")
        params["from_version"] = failed_job.params.get("from_version")

    def mutate(doc: ClusterDoc) -> ClusterDoc:
        if doc.status.phase != "Failed":
            raise UsageError(
                f"Cluster {name!r} is {doc.status.phase}; only a Failed cluster can be retried.",
                f"See it with `goman cluster get {name}`.",
            )
        doc.status.phase = phase  # type: ignore[assignment]
        doc.status.message = message.format(version=params.get("k3s_version"))
        return doc

    job = _start_job(store, name, failed_job.type, mutate, params)
    return _found(job, name)


def refuse_stopped(doc: ClusterDoc, what: str) -> None:
    """A stopped cluster is started first: say so instead of failing later."""
    if doc.status.phase in {"Stopped", "Stopping"}:
        raise UsageError(
            f"Cluster {doc.name!r} is {doc.status.phase}; it cannot be {what} while stopped.",
            f"goman cluster start {doc.name}",
        )


def _running_or_refuse(doc: ClusterDoc, what: str) -> None:
    refuse_stopped(doc, what)
    if doc.status.phase != "Running":
        raise UsageError(
            f"Cluster {doc.name!r} is {doc.status.phase}; only a Running cluster can be {what}.",
            f"See why with `goman cluster get {doc.name}`.",
        )


def upgrade_cluster(
    store: StateStore, name: str, k3s_version: str, *, ready_timeout: float | None = None
) -> Job:
    """Upgrade K3s on every node (servers first) through the system-upgrade-controller.

    Refused before anything is written: a malformed version, a downgrade, a jump of more
    than one minor version, a cluster that is not Running."""
    from goman.models.k3s_version import K3sVersion, upgrade_problem

    valid_name(name)
    if ready_timeout is not None and ready_timeout <= 0:
        raise UsageError("The timeout must be positive.", "Example: --timeout 30m")
    try:
        K3sVersion.parse(k3s_version)
    except ValueError:
        raise UsageError(
            f"{k3s_version!r} is not a K3s version.",
            "Give one like v1.34.1+k3s1 (the K3s release names on its releases page).",
        ) from None
    current = load_cluster(store, name)

    def check(doc: ClusterDoc) -> None:
        _running_or_refuse(doc, "upgraded")
        problem = upgrade_problem(doc.spec.k3s_version, k3s_version)
        if problem:
            raise UsageError(
                f"Cannot upgrade cluster {name!r}: {problem}.",
                f"It runs {doc.spec.k3s_version}; pick a newer version of this minor or the "
                "next one.",
            )

    check(current)
    params: dict[str, Any] = {
        "k3s_version": k3s_version,
        "from_version": current.spec.k3s_version,
    }
    if ready_timeout is not None:
        params["ready_timeout"] = ready_timeout

    def mutate(doc: ClusterDoc) -> ClusterDoc:
        check(doc)  # on the very version that takes the job slot
        doc.status.phase = "Upgrading"
        doc.status.message = f"Upgrade to K3s {k3s_version} queued."
        return doc

    job = _start_job(store, name, "upgrade", mutate, params)
    return _found(job, name)


class _AlreadyThere(Exception):
    """The cluster is where a stop or start would take it: no job."""


def _power(
    store: StateStore,
    name: str,
    job_type: JobType,
    *,
    source: str,
    target: str,
    params: dict[str, Any],
) -> Job | None:
    """Queue a stop or a start: the phase is checked on the very version that takes the
    job slot, so no read comes first. None, and no job, when it is `target` already."""
    verb = {"stop": "stopped", "start": "started"}[job_type]
    moving = {"stop": "Stopping", "start": "Starting"}[job_type]

    def mutate(doc: ClusterDoc) -> ClusterDoc:
        if doc.status.phase == target:
            raise _AlreadyThere
        if doc.status.phase != source:
            raise UsageError(
                f"Cluster {name!r} is {doc.status.phase}; only a {source} cluster can be {verb}.",
                f"See why with `goman cluster get {name}`.",
            )
        doc.status.phase = moving  # type: ignore[assignment]
        doc.status.message = f"{job_type.capitalize()} queued."
        return doc

    try:
        job = _start_job(store, name, job_type, mutate, params)
    except _AlreadyThere:
        return None
    return _found(job, name)


def stop_cluster(store: StateStore, name: str) -> Job | None:
    """Stop every instance, agents first. None, and no job, if it is Stopped already."""
    valid_name(name)
    return _power(store, name, "stop", source="Running", target="Stopped", params={})


def start_cluster(
    store: StateStore, name: str, *, ready_timeout: float | None = None
) -> Job | None:
    """Start a Stopped cluster, servers first. None, and no job, if it is Running already."""
    valid_name(name)
    if ready_timeout is not None and ready_timeout <= 0:
        raise UsageError("The timeout must be positive.", "Example: --timeout 15m")
    params: dict[str, Any] = {}
    if ready_timeout is not None:
        params["ready_timeout"] = ready_timeout
    return _power(store, name, "start", source="Stopped", target="Running", params=params)


def delete_cluster(store: StateStore, name: str) -> Job | None:
    """Enqueue the removal of everything the cluster has; None when there is no such cluster.
    A protected cluster is refused (checked on the very version the delete would write)."""
    valid_name(name)

    def mutate(doc: ClusterDoc) -> ClusterDoc:
        if doc.spec.protected:
            raise protected_error(name)
        doc.status.phase = "Deleting"
        doc.status.message = "Deleting every resource of the cluster."
        return doc

    return _start_job(store, name, "delete", mutate, {})


def get_cluster(store: StateStore, name: str) -> ClusterDoc:
    return load_cluster(store, name)


def kubeconfig_for(store: StateStore, name: str, context: str) -> dict[str, Any]:
    """The cluster-admin kubeconfig of NAME (built here, see clusters/access.py), its
    cluster, user and context all named `context`."""
    from goman.clusters.access import admin_kubeconfig_for

    doc = load_cluster(store, name)
    refuse_stopped(doc, "reached")
    return admin_kubeconfig_for(store, doc, context)


def default_context(store: StateStore, name: str) -> str:
    return f"goman-{store.ctx.profile}-{name}"
