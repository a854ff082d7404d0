"""Constants of the state contract (DESIGN.md section 4). Import-light on purpose."""

STATE_REGION = "ap-south-1"
BUCKET_PREFIX = "goman-"
DEFAULT_PROFILE = "default"


def bucket_name(account_id: str) -> str:
    return f"{BUCKET_PREFIX}{account_id}"
