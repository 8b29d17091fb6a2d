#!/usr/bin/env bash
# Builds libfastmap.so (NativeAOT), installs it with fastmap.h and fastmap.pc into a prefix, then
# builds the C tests in tests/c against that installed copy and runs them with CTest.
#   scripts/build-native.sh [PREFIX]      (default: build/native-prefix)
# Environment: CTEST_ARGS (extra ctest arguments, e.g. "-R abi"), JOBS.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${1:-$root/build/native-prefix}
case $prefix in /*) ;; *) prefix=$PWD/$prefix ;; esac
jobs=${JOBS:-$(nproc)}

echo "== publish + install libfastmap.so into $prefix"
make -C "$root/native-exports" install PREFIX="$prefix"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
build=$root/tests/c/build
echo "== configure + build tests/c"
# A fresh configure each time: pkg-config results are cached, and the prefix may have moved.
rm -f "$build/CMakeCache.txt"
cmake -S "$root/tests/c" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"

echo "== the .NET peer of the cross-process tests (tests/c/mixed.c runs it)"
dotnet build "$root/tests/FastMap.SharedPeer" -c Release >/dev/null

echo "== ctest"
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure ${CTEST_ARGS:-}
