#!/usr/bin/env python3
"""Checks that the workspace's declared rust-version is one every package in Cargo.lock
accepts: it must be at least the highest rust-version any dependency declares."""
import json
import subprocess
import sys

meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
members = set(meta["workspace_members"])


def version(v):
    return tuple(int(x) for x in (v or "0").split("."))


declared = {p["name"]: p.get("rust_version") for p in meta["packages"] if p["id"] in members}
deps = [(version(p.get("rust_version")), p["name"], p["version"], p.get("rust_version"))
        for p in meta["packages"] if p["id"] not in members]
need, name, ver, raw = max(deps)
print(f"highest rust-version among {len(deps)} dependencies: {raw} ({name} {ver})")
low = [(n, v) for n, v in declared.items() if version(v) < need]
for n, v in sorted(declared.items()):
    print(f"  {n}: rust-version {v}")
if low:
    sys.exit(f"declared rust-version below what {name} {ver} needs ({raw}): {low}")
print("MSRV check: ok")
