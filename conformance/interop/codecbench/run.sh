#!/usr/bin/env bash
# rumor's codec next to Go memberlist 0.2.2's, in one run: the 1,000-member
# push/pull encoded and decoded, and LZW-compressed and decompressed as a
# stream sender with compression on does.
#
# Usage: conformance/interop/codecbench/run.sh [CRITERION ARGS...]
#
# Builds and runs the Go half (conformance/interop/codecbench, with
# conformance/interop/build.sh), checks that Go's push/pull bytes and LZW bytes
# are the ones rumor writes, runs `cargo bench -p rumor-core --bench wire --
# push_pull`, and prints the medians side by side. Both sides take medians of
# samples of about 2 ms; both time `compress_varied` on 16 messages in turn
# (one message compressed over and over lets the CPU learn its branches).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
dump="$(mktemp -d)"
trap 'rm -rf "$dump"' EXIT

bin="$("$root/conformance/interop/build.sh" codecbench | tail -n 1)"
"$bin" -dump "$dump" >"$dump/go.txt"

# With RUMOR_GO_DUMP the bench first checks that its message and its compress
# message are Go's, byte for byte.
(cd "$root" && RUMOR_GO_DUMP="$dump" cargo bench -p rumor-core --bench wire -- push_pull "$@" >&2)

python3 - "$dump" "$target/criterion" "$root" <<'PY'
import json, os, subprocess, sys
dump, crit, root = sys.argv[1:4]

go = {}
for line in open(os.path.join(dump, "go.txt")):
    f = line.split()
    if f[0] == "go" and len(f) == 6 and f[3] == "ns":
        go[f[1]] = (float(f[2]) / 1000, float(f[4]))
    else:
        print(line.rstrip())

def median(bench):
    path = os.path.join(crit, bench, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    return json.load(open(path))["median"]["point_estimate"] / 1000

print(f"{'':34} {'rumor (us)':>11} {'Go (us)':>9} {'Go allocs':>10} {'Go / rumor':>11}")
for bench in ["push_pull1000/encode", "push_pull1000/decode", "push_pull1000/decode_into",
              "push_pull1000_lzw/compress", "push_pull1000_lzw/compress_varied",
              "push_pull1000_lzw/decompress"]:
    r = median(bench)
    g = go.get(bench) or (go.get("push_pull1000/decode") if bench.endswith("decode_into") else None)
    rs = f"{r:11.1f}" if r is not None else f"{'-':>11}"
    gs = f"{g[0]:9.1f} {g[1]:10.0f}" if g else f"{'-':>9} {'-':>10}"
    ratio = f"{g[0] / r:10.1f}x" if g and r else ""
    print(f"{bench:34} {rs} {gs} {ratio}")
PY
