"""Constants of the state contract (DESIGN.md section 4). Import-light on purpose."""

STATE_REGION = "ap-south-1"
BUCKET_PREFIX = "goman-"
DEFAULT_PROFILE = "default"
# The largest state object goman reads. Anyone who may write to the bucket could otherwise
# make every teammate's goman read and parse an arbitrarily large body; real documents
# stay far below this (an index of 1000 clusters is well under 1 MiB).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def bucket_name(account_id: str) -> str:
    return f"{BUCKET_PREFIX}{account_id}"
