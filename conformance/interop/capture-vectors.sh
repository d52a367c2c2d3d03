#!/usr/bin/env bash
# Regenerates conformance/vectors/memberlist-0.2.2.vectors: golden wire vectors
# captured from the real hashicorp/memberlist 0.2.2 (Debian bookworm) code.
# Builds the capture program with build.sh (installing Debian's Go packages if
# needed), runs its self-test, then writes the file. Run from anywhere.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/conformance/vectors/memberlist-0.2.2.vectors"

bin="$(bash "$here/build.sh" vectors | tail -n 1)"

# The program checks its own capture with the Go decoding paths first.
if ! result="$("$bin" selftest)"; then
  printf '%s\n' "$result" >&2
  echo "capture-vectors.sh: selftest failed" >&2
  exit 1
fi

mkdir -p "$(dirname "$out")"
"$bin" capture -o "$out"
