"""EC2 behaviour moto lacks that goman's clean-up depends on.

- DeleteSecurityGroup on a group that a live instance still uses: AWS answers
  DependencyViolation (until the instance is fully terminated); moto deletes it. Without
  this, a delete that forgets to wait for termination would pass in the sandbox only.
- DescribeRegions: moto lists every region botocore knows (China and GovCloud included),
  but has instance-type offerings for only some of them, so a region it lists could offer
  no instance type at all. The sandbox lists the regions it can emulate: those with
  offerings.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs

Environ = dict[str, Any]

_GONE = {"terminated"}


def _form(environ: Environ) -> dict[str, list[str]]:
    """The request's form fields; the body is put back for moto to read."""
    if environ.get("REQUEST_METHOD") != "POST":
        return parse_qs(str(environ.get("QUERY_STRING", "")))
    if "x-www-form-urlencoded" not in str(environ.get("CONTENT_TYPE", "")):
        return {}
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    return parse_qs(raw.decode("utf-8", "replace"))


def _group_in_use(group_id: str) -> str | None:
    """The id of a non-terminated instance using the group, if any."""
    from moto.ec2.models import ec2_backends

    for per_region in list(dict.values(ec2_backends)):
        for backend in list(dict.values(per_region)):
            for reservation in list(getattr(backend, "reservations", {}).values()):
                for inst in list(reservation.instances):
                    if getattr(getattr(inst, "_state", None), "name", "") in _GONE:
                        continue
                    groups = {getattr(g, "id", g) for g in getattr(inst, "security_groups", [])}
                    if group_id in groups:
                        return str(inst.id)
    return None


def ec2_hook(environ: Environ, start_response: Any) -> list[bytes] | None:
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    if "/ec2/aws4_request" not in auth:
        return None
    form = _form(environ)
    if form.get("Action", [""])[0] != "DeleteSecurityGroup":
        return None
    group_id = form.get("GroupId", [""])[0]
    user = _group_in_use(group_id) if group_id else None
    if user is None:
        return None
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        "<Code>DependencyViolation</Code>"
        f"<Message>resource {group_id} has a dependent object ({user})</Message>"
        "</Error></Errors><RequestID>goman-sandbox</RequestID></Response>"
    ).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


def limit_regions() -> None:
    """DescribeRegions lists only the regions moto has instance-type offerings for."""
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
    from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

    offered = set(INSTANCE_TYPE_OFFERINGS.get("region", {}))
    regions = RegionsAndZonesBackend.regions
    regions[:] = [r for r in regions if r.name in offered]
