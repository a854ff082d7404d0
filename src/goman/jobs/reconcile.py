"""The reconciler: where the state documents and EC2 meet, one idempotent step at a time.

Phases of a cluster (status.phase):
  create:  Pending -> Provisioning (prepare .. associate-endpoint) -> Bootstrapping
           (wait-ready) -> Running
  scale:   Running -> Scaling -> Running
  delete:  Deleting -> (state document and index row removed: "Deleted")
  upgrade: Running -> Upgrading (install-upgrader .. upgrade-agents) -> Running, on the new
           version (spec.k3s_version changes only when every node runs it)
  stop:    Running -> Stopping (agents, then servers) -> Stopped
  start:   Stopped -> Starting (servers, then agents, then Ready through the API) -> Running
  retry:   Failed -> (replace-failed, then the create or scale steps as above) -> Running;
           a failed upgrade, stop or start runs its own steps again
  any step that fails past its retries: Failed, with the reason in status.message.

Every step can be run again after a crash at any point and gives the same result:
resources are found by their goman tags before anything is created, RunInstances
carries a ClientToken that is fixed per (cluster, node, launch), and ids are recorded in
the state document right after each create. Failed never re-creates anything on its
own: only `replace-failed`, in a retry the user asked for, removes the instances the retry
command listed in the job's params, so that the launch steps start new ones.

The steps themselves live in `goman.jobs.steps` (one module per operation, one table
that also says which steps each one waits for).
"""

from __future__ import annotations

import time

from goman.aws.errors import GomanError, UsageError
from goman.jobs.lease import LeaseLost
from goman.jobs.steps import STEPS, WAITS
from goman.jobs.steps.common import Interrupted, Policy, StepContext, StepFailed
from goman.models.job import Job
from goman.provision.ownership import NotOwnedError

__all__ = ["Interrupted", "Reconciler", "StepFailed"]


class Reconciler(StepContext):
    """Runs the steps of one job against one cluster."""

    def check(self) -> str | None:
        """Why this job may not run against the cluster as it is now (None: it may)."""
        from goman.jobs.params import problem

        invalid = problem(self.job)
        if invalid is not None:
            return invalid
        removed = any(s.name == "remove-state" and s.status == "done" for s in self.job.steps)
        if self.doc is None:
            if self.job.type == "delete":
                return None  # the state document went first; only the last checks remain
            return f"the state document of cluster {self.job.cluster} no longer exists"
        if self.doc.cluster_id != self.job.cluster_id:
            return f"cluster {self.job.cluster} was re-created since this job was queued"
        if self.doc.status.job_id != self.job.id and not removed:
            return (
                f"cluster {self.job.cluster} is not waiting for this job "
                f"(it names job {self.doc.status.job_id or 'none'})"
            )
        return None

    def run_step(self, name: str, job: Job) -> str:
        """Run one step with its bounded retries; returns a message for the job. Steps of
        one job may run at once (the worker keeps `self.job` current)."""
        step = STEPS[name]
        policy = step.policy
        if name in WAITS:
            policy = Policy(
                attempts=1, timeout=float(job.params.get("ready_timeout") or policy.timeout)
            )
        elif name == "drain-agents":
            # The drain keeps its own clock (--drain-timeout); this only bounds the step.
            drain = float(job.params.get("drain_timeout") or 0)
            policy = Policy(attempts=1, timeout=max(policy.timeout, drain + 120.0))
        for attempt in range(policy.attempts):
            deadline = time.monotonic() + policy.timeout
            try:
                return step.run(self, deadline)
            except (StepFailed, UsageError, NotOwnedError, LeaseLost, Interrupted):
                raise
            except GomanError:
                if attempt + 1 >= policy.attempts:
                    raise
                self.sleep(min(10.0, 1.0 * 2**attempt))
        raise AssertionError("unreachable")
