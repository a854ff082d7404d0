"""Write a CA bundle into K3s's `server/tls/` folder, on a node, before K3s first starts.

This file is self-contained (Python 3 standard library only) so that its source can be
shipped to server-0 as it is and run with the node's python3 (cloud-init images have it):

    python3 unpack.py /var/lib/rancher/k3s/server/tls < bundle.json

It trusts nothing in the bundle: only the eleven known relative paths are written (so no
path can leave the folder), each must be bounded ASCII PEM text, folders are created 0700
and files 0600 by an atomic rename. A file that already exists with other content is never
replaced (K3s must not see its CAs change once it has started): exit status 3. Identical
content is left alone, so running it again after a crash is harmless.
Exit status: 0 written or already there, 2 bad bundle or usage, 3 conflicting file.
"""

from __future__ import annotations

import json
import os
import sys

FILES = (
    "server-ca.crt",
    "server-ca.key",
    "client-ca.crt",
    "client-ca.key",
    "request-header-ca.crt",
    "request-header-ca.key",
    "etcd/peer-ca.crt",
    "etcd/peer-ca.key",
    "etcd/server-ca.crt",
    "etcd/server-ca.key",
    "service.key",
)
MAX_BYTES = 128 * 1024
MAX_FILE = 16 * 1024


class Refused(Exception):
    pass


def checked_files(raw: bytes) -> dict[str, str]:
    if len(raw) > MAX_BYTES:
        raise Refused("bundle too large")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise Refused("bundle is not JSON") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "k3s-ca-bundle":
        raise Refused("not a k3s-ca-bundle")
    if doc.get("schema_version") != 1:
        raise Refused("unsupported schema_version")
    files = doc.get("files")
    if not isinstance(files, dict) or set(files) != set(FILES):
        raise Refused("bundle files are not exactly the K3s CA files")
    for path, text in files.items():
        if not isinstance(text, str) or not text.isascii() or len(text) > MAX_FILE:
            raise Refused(f"{path}: not bounded ASCII text")
        if not text.lstrip().startswith("-----BEGIN ") or "\0" in text:
            raise Refused(f"{path}: not PEM")
    return {path: files[path] for path in FILES}


def write_files(files: dict[str, str], tls_dir: str) -> list[str]:
    """Write the files; returns the paths written (empty when all were already there)."""
    written: list[str] = []
    os.makedirs(tls_dir, mode=0o700, exist_ok=True)
    for path in FILES:
        target = os.path.join(tls_dir, *path.split("/"))
        folder = os.path.dirname(target)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        data = files[path].encode("ascii")
        if os.path.lexists(target):
            with open(target, "rb") as fh:
                if fh.read() == data:
                    continue
            raise FileExistsError(target)
        tmp = f"{target}.goman-tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: unpack.py TLS_DIR < bundle.json", file=sys.stderr)
        return 2
    try:
        files = checked_files(sys.stdin.buffer.read(MAX_BYTES + 1))
    except Refused as exc:
        print(f"goman: CA bundle refused: {exc}", file=sys.stderr)
        return 2
    old = os.umask(0o077)
    try:
        written = write_files(files, argv[1])
    except FileExistsError as exc:
        print(f"goman: {exc} exists with other content; not replacing it", file=sys.stderr)
        return 3
    finally:
        os.umask(old)
    print(f"goman: {len(written)} CA file(s) written to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
