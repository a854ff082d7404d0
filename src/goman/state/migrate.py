"""`goman state migrate`: upload the seed's local `.state/` folder into the state bucket.

The seed kept state on disk and shared it with `aws s3 sync .state s3://goman-ACCOUNT/state/`,
so its layout is `.state/{profile}/config.json`, `.state/{profile}/clusters/clusters.json`,
`.state/{profile}/clusters/{name}.state.json` and `.state/{profile}/jobs/{id}.json`.

`--from DIR` may name the `.state` folder (the profile's subfolder is used), one profile's
folder itself (it holds config.json, clusters/ or jobs/), or a folder that contains `.state`.

Rules (also in docs/state.md):
- Every document is validated first; if any is invalid nothing is uploaded.
- A remote document is *newer* when its revision is higher than the local file's, or equal
  with different content (both sides changed since they were in step). Newer remote
  documents are kept unless --force. A remote document with a lower revision is replaced.
- Each upload is conditional (create: If-None-Match *, replace: If-Match), and the written
  revision is max(local, remote + 1) so revisions never go backwards.
- The local folder is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from goman.aws.errors import GomanError, NotFoundError, UsageError
from goman.models.base import Document
from goman.models.cluster import ClusterDoc, ClusterIndex, check_name
from goman.models.job import Job, check_job_id
from goman.state import keys
from goman.state.store import Conflict, StateStore, _short_validation
from goman.state.versions import model_for

_PROFILE_MARKERS = ("config.json", "clusters", "jobs")


@dataclass
class FileReport:
    file: str
    key: str
    action: (
        str  # create | replace | overwrite | unchanged | keep-remote | invalid | ignored | conflict
    )
    detail: str = ""
    local_revision: int | None = None
    remote_revision: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "key": self.key,
            "action": self.action,
            "detail": self.detail,
            "local_revision": self.local_revision,
            "remote_revision": self.remote_revision,
        }


@dataclass
class MigrationPlan:
    source: Path
    profile: str
    prefix: str
    files: list[FileReport] = field(default_factory=list)
    docs: dict[str, Document] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)

    @property
    def invalid(self) -> list[FileReport]:
        return [f for f in self.files if f.action == "invalid"]

    @property
    def uploads(self) -> list[FileReport]:
        return [f for f in self.files if f.action in {"create", "replace", "overwrite"}]

    def as_dict(self, *, dry_run: bool, done: bool) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "profile": self.profile,
            "prefix": self.prefix,
            "dry_run": dry_run,
            "uploaded": done,
            "files": [f.as_dict() for f in self.files],
        }


def profile_folder(source: Path, profile: str) -> Path:
    """Which folder holds `profile`'s documents (see the module docstring)."""
    if not source.is_dir():
        raise UsageError(f"{source} is not a folder.", "Give --from the seed's .state folder.")
    if any((source / m).exists() for m in _PROFILE_MARKERS):
        return source
    for base in (source, source / ".state"):
        candidate = base / profile
        if candidate.is_dir():
            return candidate
    found = sorted(
        p.name
        for base in (source, source / ".state")
        if base.is_dir()
        for p in base.iterdir()
        if p.is_dir() and any((p / m).exists() for m in _PROFILE_MARKERS)
    )
    if found:
        raise UsageError(
            f"{source} has no folder for profile '{profile}' (found: {', '.join(found)}).",
            f"Migrate one of them with `goman --profile {found[0]} state migrate --from {source}`.",
        )
    raise UsageError(
        f"{source} does not look like goman state: no config.json, clusters/ or jobs/ in it.",
        "Give --from the seed's .state folder or one profile's folder inside it.",
    )


def plan(store: StateStore, source: Path, *, force: bool) -> MigrationPlan:
    folder = profile_folder(source, store.ctx.profile)
    result = MigrationPlan(source=folder, profile=store.ctx.profile, prefix=store.prefix)
    local: list[tuple[Path, str, type[Document]]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        model = model_for(rel)
        if model is None or any(part.startswith(".") for part in rel.split("/")):
            result.files.append(FileReport(str(path), rel, "ignored", "not a goman state document"))
            continue
        local.append((path, rel, model))
    # Validate everything before looking at the bucket: one bad file stops the whole run.
    for path, rel, model in local:
        try:
            doc = model.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            result.files.append(FileReport(str(path), rel, "invalid", _short_validation(exc)))
            continue
        except OSError as exc:
            result.files.append(FileReport(str(path), rel, "invalid", f"unreadable: {exc}"))
            continue
        mismatch = _name_mismatch(rel, doc)
        if mismatch:
            result.files.append(FileReport(str(path), rel, "invalid", mismatch))
            continue
        result.docs[rel] = doc
    if result.invalid:
        return result
    for path, rel, model in local:
        doc = result.docs[rel]
        result.files.append(_compare(store, str(path), rel, model, doc, force, result))
    return result


def _name_mismatch(rel: str, doc: Document) -> str:
    """Why a document cannot live under this file name ("" if it can).

    A document is found by its key: a state file that describes another cluster, a job
    filed under another id, or an index row under another name would be read back as
    something it is not (and a name that is not valid could never be read back at all)."""
    if isinstance(doc, ClusterDoc):
        name = keys.cluster_name_of(rel)
        try:
            check_name(name)
        except ValueError as exc:
            return f"the file name: {exc}"
        if doc.spec.name != name:
            return f"the file is named for cluster {name!r} but describes cluster {doc.spec.name!r}"
    if isinstance(doc, Job):
        job_id = rel[len(keys.JOBS_DIR) : -len(".json")]
        try:
            check_job_id(job_id)
        except ValueError as exc:
            return f"the file name: {exc}"
        if doc.id != job_id:
            return f"the file is named for job {job_id!r} but holds job {doc.id!r}"
    if isinstance(doc, ClusterIndex):
        for name, row in doc.clusters.items():
            try:
                check_name(name)
            except ValueError as exc:
                return f"clusters: {exc}"
            if row.name != name:
                return f"clusters: the row filed under {name!r} describes cluster {row.name!r}"
    return ""


def _compare(
    store: StateStore,
    file: str,
    rel: str,
    model: type[Document],
    doc: Document,
    force: bool,
    result: MigrationPlan,
) -> FileReport:
    report = FileReport(file, rel, "create", local_revision=doc.revision)
    try:
        body, etag, _ = store.get_bytes(rel)
    except NotFoundError:
        report.detail = "not in the bucket yet"
        return report
    result.etags[rel] = etag
    try:
        remote: Document | None = model.model_validate_json(body)
    except ValidationError:
        remote = None
    if remote is None:
        report.action = "overwrite" if force else "keep-remote"
        report.detail = "the remote document is not readable" + (
            " (--force: replaced)" if force else "; --force replaces it"
        )
        return report
    report.remote_revision = remote.revision
    if _same(remote, doc):
        report.action, report.detail = "unchanged", "same content in the bucket"
        return report
    if remote.revision < doc.revision:
        report.action = "replace"
        report.detail = f"remote revision {remote.revision} < local {doc.revision}"
        return report
    newer = (
        f"remote revision {remote.revision} > local {doc.revision}"
        if remote.revision > doc.revision
        else f"both at revision {doc.revision} with different content"
    )
    if force:
        report.action, report.detail = "overwrite", f"{newer} (--force)"
    else:
        report.action, report.detail = "keep-remote", f"{newer}; --force replaces it"
    return report


def _same(a: Document, b: Document) -> bool:
    return a.model_dump(mode="json") == b.model_dump(mode="json")


def apply(store: StateStore, migration: MigrationPlan) -> None:
    """Upload the planned files; a file changed meanwhile by someone else is a conflict."""
    if migration.invalid:
        raise GomanError("Refusing to migrate: some files are invalid.")
    for report in migration.uploads:
        doc = migration.docs[report.key]
        remote_rev = report.remote_revision or 0
        revision = max(doc.revision, remote_rev + 1 if report.key in migration.etags else 1)
        body = (
            doc.model_copy(update={"revision": revision}).model_dump_json(indent=2) + "\n"
        ).encode()
        try:
            if report.key in migration.etags:
                store.put_bytes(report.key, body, etag=migration.etags[report.key])
            else:
                store.put_bytes(report.key, body, create=True)
        except Conflict:
            report.action = "conflict"
            report.detail = "changed in the bucket while migrating; run migrate again"
            continue
        report.detail = (report.detail + f"; written at revision {revision}").lstrip("; ")


def local_summary(migration: MigrationPlan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in migration.files:
        counts[f.action] = counts.get(f.action, 0) + 1
    return counts
