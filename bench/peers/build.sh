#!/usr/bin/env bash
# Builds the native peers of the stress run into bench/peers/out/ (or $1):
#   libctable.so       the plain C table (always; needs only a C compiler)
#   libfastmap_reads.so FastMap-C's inline reads (fastmap.h), when libfastmap.so is installed in
#                      $FASTMAP_PREFIX (default build/native-prefix, where scripts/build-native.sh puts it)
#   libcuckoo_shim.so  libcuckoo's cuckoohash_map (needs libcuckoo-dev: apt-get install -y libcuckoo-dev)
# Exit status 3 means only libcuckoo's header is missing (the C table was built).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/out}"
mkdir -p "$out"
cc="${CC:-cc}"
command -v "$cc" >/dev/null || { echo "build.sh: $cc not found" >&2; exit 2; }
"$cc" -O2 -std=c11 -shared -fPIC -Wall -Wextra -Werror \
    -Wl,--version-script=<(printf '{ global: ct_*; local: *; };\n') \
    -o "$out/libctable.so" "$here/ctable.c"
echo "$out/libctable.so"
fm_prefix="${FASTMAP_PREFIX:-$here/../../build/native-prefix}"
if [ -f "$fm_prefix/include/fastmap.h" ] && [ -f "$fm_prefix/lib/libfastmap.so" ]; then
  fm_lib="$(cd "$fm_prefix/lib" && pwd)"
  "$cc" -O2 -std=gnu11 -shared -fPIC -Wall -Wextra -Werror -I"$fm_prefix/include" \
      -Wl,--version-script=<(printf '{ global: fms_*; local: *; };\n') \
      -o "$out/libfastmap_reads.so" "$here/fastmap_reads.c" -L"$fm_lib" -lfastmap -Wl,-rpath,"$fm_lib"
  echo "$out/libfastmap_reads.so"
else
  echo "build.sh: no libfastmap.so in $fm_prefix (scripts/build-native.sh): FastMap-C reads through the library" >&2
fi
if ! command -v g++ >/dev/null; then echo "build.sh: g++ not found (libcuckoo peer)" >&2; exit 2; fi
if [ ! -f /usr/include/libcuckoo/cuckoohash_map.hh ]; then
  echo "build.sh: /usr/include/libcuckoo/cuckoohash_map.hh not found (apt-get install -y libcuckoo-dev)" >&2; exit 3
fi
g++ -O2 -std=c++17 -shared -fPIC \
    -Wall -Wextra -Werror \
    -Wl,--version-script=<(printf '{ global: ck_*; local: *; };\n') \
    -o "$out/libcuckoo_shim.so" "$here/cuckoo_shim.cpp" -pthread
echo "$out/libcuckoo_shim.so"
