#!/bin/sh
# The library's exported fm_* symbols must be exactly the functions fastmap.h declares (this test
# stands in for libbpf.map). Usage: symbols.sh path/to/libfastmap.so path/to/fastmap.h
set -eu
lib=$1
hdr=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | grep '^fm_' | sort -u > "$tmp/lib"
# Every declaration starts with FM_API; the name is the identifier before the first '('.
grep -E '^FM_API ' "$hdr" | sed -E 's/\(.*//; s/.*[ *]//' | sort -u > "$tmp/hdr"
if ! diff -u "$tmp/hdr" "$tmp/lib"; then
	echo "symbols: exports (+) and header (-) differ" >&2
	exit 1
fi
echo "symbols: $(wc -l < "$tmp/lib") fm_* exports match the header"
