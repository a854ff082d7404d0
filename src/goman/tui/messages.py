"""Messages the app and its screens exchange (posted from worker threads too: posting is
thread-safe in Textual)."""

from __future__ import annotations

from textual.message import Message

from goman.aws.errors import GomanError
from goman.models.cluster import ClusterIndex


class IndexUpdated(Message):
    """The cluster index changed (or was read for the first time)."""

    def __init__(self, index: ClusterIndex) -> None:
        super().__init__()
        self.index = index


class JobProgressed(Message):
    """A job running in this process moved on: refresh sooner than the next poll."""


class JobCrashed(Message):
    def __init__(self, job_id: str, error: GomanError) -> None:
        super().__init__()
        self.job_id = job_id
        self.error = error
