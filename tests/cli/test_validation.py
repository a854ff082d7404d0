"""Validation is exact and happens before anything is written.

Every pattern matches the whole value (a trailing newline is not a valid name); the region
and instance type of a cluster are checked against what EC2 offers before any S3 write or
EC2 mutation; `--api-cidr auto` asks the caller's public address; an API open to the whole
internet is said once.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import BUCKET


def _state_keys(s3: Any) -> list[str]:
    """What a command could have written: `goman init`'s own probe record is not counted."""
    if not s3.list_buckets()["Buckets"]:
        return []
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="state/").get("Contents", [])
    return sorted(o["Key"] for o in listed if "/probe/" not in o["Key"])


def _ec2_made(ec2: Any) -> dict[str, list[str]]:
    """What goman could have created in EC2 (the default security group excluded)."""
    groups = [
        g["GroupId"]
        for g in ec2.describe_security_groups()["SecurityGroups"]
        if g["GroupName"] != "default"
    ]
    addresses = [a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]]
    instances = [
        i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
    ]
    return {"groups": groups, "addresses": addresses, "instances": instances}


NOTHING = {"groups": [], "addresses": [], "instances": []}


@pytest.mark.parametrize(
    "args",
    [
        ("config", "set", "k3s_version", "v1.33.3+k3s1\n"),
        ("config", "set", "instance_type", "t3.medium\n"),
        ("config", "set", "region", "ap-south-1\n"),
        ("config", "set", "kms_key_id", "alias/goman\n"),
        ("cluster", "create", "web\n", "--detach"),
        ("cluster", "create", "web", "--instance-type", "t3.medium\n", "--detach"),
        ("cluster", "create", "web", "--region", "ap-south-1\n", "--detach"),
        ("cluster", "create", "web", "--k3s-version", "v1.33.3+k3s1\n", "--detach"),
        ("--profile", "team\n", "config", "show"),
    ],
    ids=lambda a: " ".join(a).replace("\n", "\\n"),
)
def test_a_trailing_newline_is_a_usage_error(goman: Any, s3: Any, args: tuple[str, ...]) -> None:
    res = goman(*args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert _state_keys(s3) == []


def test_a_stored_value_with_a_trailing_newline_is_invalid(goman: Any, s3: Any) -> None:
    """Reads validate as exactly as writes: a forged config.json is reported, not used."""
    assert goman("init").exit_code == 0
    forged = {"schema_version": 1, "revision": 2, "k3s_version": "v1.33.3+k3s1\n"}
    s3.put_object(Bucket=BUCKET, Key="state/default/config.json", Body=json.dumps(forged))
    res = goman("config", "show")
    assert res.exit_code == 1
    assert "k3s_version" in res.stderr and "is invalid" in res.stderr


def test_an_unknown_region_is_refused_before_anything_is_written(
    goman: Any, s3: Any, ec2: Any
) -> None:
    assert goman("init").exit_code == 0
    res = goman("cluster", "create", "web", "--region", "ap-south-9")
    assert res.exit_code == 2, res.output
    assert "ap-south-9" in res.stderr
    assert "ap-south-1" in res.stderr and "ap-south-2" in res.stderr  # the nearest names
    assert _state_keys(s3) == ["state/default/config.json"]
    assert _ec2_made(ec2) == NOTHING


def test_an_instance_type_not_offered_is_refused_before_anything_is_written(
    goman: Any, s3: Any, ec2: Any
) -> None:
    """Today this one writes state, a security group and an Elastic IP, then fails."""
    assert goman("init").exit_code == 0
    res = goman("cluster", "create", "web", "--instance-type", "z9.huge", "--timeout", "30s")
    assert res.exit_code == 2, res.output
    assert "z9.huge" in res.stderr and "ap-south-1" in res.stderr
    assert _state_keys(s3) == ["state/default/config.json"]
    assert _ec2_made(ec2) == NOTHING


def test_the_nearest_instance_types_are_suggested(goman: Any) -> None:
    res = goman("cluster", "create", "web", "--instance-type", "t3.mediun", "--detach")
    assert res.exit_code == 2, res.output
    assert "t3.medium" in res.stderr


def test_a_region_from_config_is_checked_too(goman: Any, s3: Any) -> None:
    """A config.json written by an older goman (or by hand) is checked at create."""
    assert goman("init").exit_code == 0
    doc = {"schema_version": 1, "revision": 2, "region": "eu-fake-9"}
    s3.put_object(Bucket=BUCKET, Key="state/default/config.json", Body=json.dumps(doc))
    res = goman("cluster", "create", "web", "--detach")
    assert res.exit_code == 2, res.output
    assert "eu-fake-9" in res.stderr
    assert _state_keys(s3) == ["state/default/config.json"]


def test_config_set_checks_region_and_instance_type_against_ec2(goman: Any) -> None:
    res = goman("config", "set", "region", "eu-fake-9")
    assert res.exit_code == 2, res.output
    assert "eu-fake-9" in res.stderr
    res = goman("config", "set", "instance_type", "t3.mediun")
    assert res.exit_code == 2, res.output
    assert "t3.medium" in res.stderr
    assert goman("config", "set", "region", "eu-west-1").exit_code == 0
    assert goman("config", "set", "instance_type", "m5.large").exit_code == 0
    shown = goman("config", "show", "-o", "json").json()
    assert (shown["region"], shown["instance_type"]) == ("eu-west-1", "m5.large")


def test_a_valid_create_still_works(goman: Any, s3: Any) -> None:
    res = goman("cluster", "create", "web", "--region", "eu-west-1", "--detach")
    assert res.exit_code == 0, res.output
    assert "state/default/clusters/web.state.json" in _state_keys(s3)


# -- the Kubernetes API's allowed addresses --------------------------------------------------


def _spec(s3: Any, name: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=BUCKET, Key=f"state/default/clusters/{name}.state.json")["Body"]
    spec: dict[str, Any] = json.loads(body.read())["spec"]
    return spec


def test_api_cidr_auto_is_the_callers_public_address(goman: Any, s3: Any) -> None:
    res = goman("cluster", "create", "web", "--api-cidr", "auto", "--detach")
    assert res.exit_code == 0, res.output
    # The sandbox answers the "what is my address" lookup with the caller's loopback address.
    assert _spec(s3, "web")["api_cidrs"] == ["127.0.0.1/32"]
    assert "open to the internet" not in res.stderr


def test_config_set_api_cidrs_auto(goman: Any) -> None:
    res = goman("config", "set", "api_cidrs", "10.0.0.0/8,auto")
    assert res.exit_code == 0, res.output
    assert goman("config", "get", "api_cidrs").stdout == "10.0.0.0/8,127.0.0.1/32\n"


def test_an_api_open_to_the_internet_is_said_once(goman: Any, s3: Any) -> None:
    res = goman("cluster", "create", "web", "--detach")
    assert res.exit_code == 0, res.output
    said = [line for line in res.stderr.splitlines() if "0.0.0.0/0" in line]
    assert len(said) == 1, res.stderr
    assert "--api-cidr auto" in said[0]
    narrow = goman("cluster", "create", "db", "--api-cidr", "10.0.0.0/8", "--detach")
    assert narrow.exit_code == 0 and "0.0.0.0/0" not in narrow.stderr


class _Answer(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def checkip_answering() -> Iterator[Any]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(body: bytes) -> str:
        handler = type("Handler", (_Answer,), {"body": body})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "body", [b"<html>hello</html>", b"10.0.0.0/8\n", b"", b"1.2.3.4\n" * 100], ids=repr
)
def test_a_checkip_answer_that_is_not_one_address_is_refused(
    goman: Any, s3: Any, checkip_answering: Any, body: bytes
) -> None:
    url = checkip_answering(body)
    res = goman(
        "cluster", "create", "web", "--api-cidr", "auto", "--detach", env={"GOMAN_CHECKIP_URL": url}
    )
    assert res.exit_code == 1, res.output
    assert "public address" in res.stderr and "--api-cidr" in res.stderr
    assert _state_keys(s3) in ([], ["state/default/config.json"])


def test_checkip_answers_an_ipv6_address_as_128(
    goman: Any, s3: Any, checkip_answering: Any
) -> None:
    url = checkip_answering(b"2001:db8::7\n")
    res = goman(
        "cluster", "create", "web", "--api-cidr", "auto", "--detach", env={"GOMAN_CHECKIP_URL": url}
    )
    assert res.exit_code == 0, res.output
    assert _spec(s3, "web")["api_cidrs"] == ["2001:db8::7/128"]


def test_an_unreachable_checkip_service_is_a_clear_error(goman: Any, s3: Any) -> None:
    res = goman(
        "cluster",
        "create",
        "web",
        "--api-cidr",
        "auto",
        "--detach",
        env={"GOMAN_CHECKIP_URL": "http://127.0.0.1:9/"},
    )
    assert res.exit_code == 1, res.output
    assert "127.0.0.1:9" in res.stderr and "--api-cidr" in res.stderr
    assert "Traceback" not in res.output


def test_checkip_over_plain_http_is_only_for_loopback(goman: Any) -> None:
    res = goman(
        "config", "set", "api_cidrs", "auto", env={"GOMAN_CHECKIP_URL": "http://checkip.example/"}
    )
    assert res.exit_code == 2, res.output
    assert "https" in res.stderr
