#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets from the golden vectors:
# fuzz/corpus/{packet,stream}/<vector name>, one file per vector of conformance/vectors/*.vectors
# (format: '#' comments, else "<name> <hex> <description>"). The corpus directories are not
# committed (.gitignore); run this before `cargo fuzz run`, e.g.
#   fuzz/seed-corpus.sh && cd fuzz && cargo fuzz run -s none packet -- -runs=200000
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vectors="$here/../conformance/vectors"
for target in packet stream; do
    mkdir -p "$here/corpus/$target"
done
n=0
for file in "$vectors"/*.vectors; do
    while read -r name hex _; do
        [[ -z "$name" || "$name" == \#* ]] && continue
        for target in packet stream; do
            # Every vector seeds both targets: streams carry most packet messages too.
            perl -e 'print pack("H*", $ARGV[0])' "$hex" > "$here/corpus/$target/$name"
        done
        n=$((n + 1))
    done < "$file"
done
echo "seeded $n vectors into $here/corpus/{packet,stream}"
