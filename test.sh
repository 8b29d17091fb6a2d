#!/usr/bin/env bash
# Runs every FastMap test: the managed suite (xunit), the compare-window tests again with SIMD
# disabled (scalar path), the fuzz corpus replay, the API reference build (scripts/api-docs.sh: any doc
# warning fails it), the C suite (CTest) against an installed libfastmap.so, the packages a user
# installs (scripts/test-packages.sh), and a smoke run of the stress benchmark. As a non-root user the
# tests that compare with the kernel's bpf() skip, and the run lists them.
# Usage: ./test.sh            (from a fresh clone; needs the .NET 10 SDK, gcc, cmake, pkg-config)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

passed=0
failed=0
skipped=0
count() { # add up the "Failed: F, Passed: P, Skipped: S" summaries that dotnet test prints
    local f p s
    f=$(grep -oE 'Failed: +[0-9]+' "$1" | awk '{s+=$2} END {print s+0}')
    p=$(grep -oE 'Passed: +[0-9]+' "$1" | awk '{s+=$2} END {print s+0}')
    s=$(grep -oE 'Skipped: +[0-9]+' "$1" | awk '{s+=$2} END {print s+0}')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}
log=$(mktemp)
status=0

echo "== managed tests (xunit)"
dotnet test tests/FastMap.Tests -c Release 2>&1 | tee "$log" || status=1
count "$log"
# Not root: the tests that compare with the kernel (tests/FastMap.Tests/Kernel, Differential) skip when bpf() refuses
# this user with EPERM (KernelFactAttribute.cs); as root (CI) they run. Say which, not only how many.
if grep -q '^  Skipped ' "$log"; then
    echo "note: skipped as uid $(id -u) (the kernel-backed ones skip only when bpf() refuses a non-root user with EPERM; as root they run):"
    grep '^  Skipped ' "$log" | sed -E 's/^  Skipped ([^ ]+).*/    \1/' | sort -u
fi

echo "== compare-window tests with hardware intrinsics off (scalar path)"
DOTNET_EnableHWIntrinsic=0 dotnet test tests/FastMap.Tests -c Release --no-build --filter "Category=Compare" 2>&1 | tee "$log" || status=1
count "$log"

echo "== fuzz corpus replay (fuzz/corpus through the command-layer fuzz target, uninstrumented; fuzz/README.md)"
dotnet run -c Release --project fuzz/FastMap.Fuzz -- --replay fuzz/corpus && passed=$((passed + 1)) || { failed=$((failed + 1)); status=1; }

echo "== API reference (scripts/api-docs.sh: Doxygen over include/fastmap.h, docfx over src/FastMap; a warning fails it)"
scripts/api-docs.sh 2>&1 | tee "$log" && passed=$((passed + 1)) || { failed=$((failed + 1)); status=1; }

echo "== C ABI tests (NativeAOT libfastmap.so, CTest)"
scripts/build-native.sh 2>&1 | tee "$log" || status=1
c_pass=$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1 || true)
if [ -n "$c_pass" ]; then
    total=$(echo "$c_pass" | grep -oE '[0-9]+$'); cf=$(echo "$c_pass" | grep -oE '[0-9]+ tests failed' | grep -oE '^[0-9]+')
    passed=$((passed + total - cf)); failed=$((failed + cf))
else
    failed=$((failed + 1)); status=1
fi
echo "== packages a user installs: FastMap.nupkg from a folder feed, the C dist tarball via pkg-config and CMake"
scripts/test-packages.sh 2>&1 | tee "$log" || status=1
pk=$(grep -oE '^packages: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1 || true)
if [ -n "$pk" ]; then
    passed=$((passed + $(echo "$pk" | awk '{print $2}'))); failed=$((failed + $(echo "$pk" | awk '{print $4}')))
else
    failed=$((failed + 1)); status=1
fi
echo "== stress benchmark smoke run (--quick; no timing is asserted, only that every system runs)"
smoke_out=$(mktemp -d)
if dotnet run -c Release --project bench/FastMap.Stress -- --quick --no-plots --out "$smoke_out" 2>&1 | tail -5; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); status=1
fi
rm -rf "$smoke_out" "$log"

echo
echo "all: $passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
