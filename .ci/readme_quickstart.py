#!/usr/bin/env python3
"""Compiles the README's quickstart programs, each with the `rumor` facade and only the
feature it documents (a library user's view), in scratch crates under target/quickstart."""
import os
import re
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
readme = open(os.path.join(root, "README.md")).read()

# heading of the section -> (rumor feature, the executor crates the program uses)
sections = {
    "### tokio": ("tokio", ['tokio = { version = "1", features = ["rt-multi-thread", "macros"] }']),
    "### smol and async-std": ("smol", ['smol = "2"']),
    "### mio": ("mio", []),
}

failed = []
for heading, (feature, extra) in sections.items():
    start = readme.find("\n" + heading + "\n")
    if start < 0:
        sys.exit(f"README has no section {heading!r}")
    block = re.search(r"```rust\n(.*?)```", readme[start:], re.S)
    if not block:
        sys.exit(f"no rust block under {heading!r}")
    crate = os.path.join(root, "target", "quickstart", feature)
    os.makedirs(os.path.join(crate, "src"), exist_ok=True)
    deps = "\n".join(extra)
    open(os.path.join(crate, "Cargo.toml"), "w").write(
        f"""[package]
name = "quickstart-{feature}"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
rumor = {{ path = "{root}", default-features = false, features = ["{feature}"] }}
{deps}

[workspace]
"""
    )
    open(os.path.join(crate, "src", "main.rs"), "w").write(block.group(1))
    print(f"== README quickstart, {heading[4:]}: cargo check with features = [\"{feature}\"]", flush=True)
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(root, "target", "quickstart", "target"))
    r = subprocess.run(["cargo", "check", "--quiet", "--manifest-path", os.path.join(crate, "Cargo.toml")], env=env)
    if r.returncode != 0:
        failed.append(heading)

if failed:
    sys.exit(f"README quickstart does not compile: {failed}")
print("README quickstart: every program compiles with its feature alone")
