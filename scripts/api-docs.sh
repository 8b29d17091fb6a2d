#!/usr/bin/env bash
# Builds the API reference from the sources, and fails on any warning in either:
#   c       Doxygen over include/fastmap.h (docs/Doxyfile)          -> build/api-docs/c/html/index.html
#   dotnet  docfx over src/FastMap's XML docs (docs/docfx.json)     -> build/api-docs/dotnet/index.html
# Installs what is missing: doxygen with apt-get (as root; else it says how), docfx from the repository's
# tool manifest (dotnet-tools.json, `dotnet tool restore`). Output is not committed (build/ is ignored).
# Usage: scripts/api-docs.sh [c|dotnet]...   (default: both; part of ./test.sh). Last line:
#   "api-docs: W warnings (c: N, dotnet: M)" and exit 0 only when both built with no warning.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
FASTMAP_VERSION=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' Directory.Build.props)
export FASTMAP_VERSION                                  # docs/Doxyfile's PROJECT_NUMBER
out=build/api-docs
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(c dotnet)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
c_warn=- dotnet_warn=-

api_c() {
	if ! command -v doxygen >/dev/null 2>&1; then
		if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
			echo "api-docs: installing doxygen (apt-get)"
			apt-get update -qq && apt-get install -y -qq --no-install-recommends doxygen >/dev/null
		else
			echo "api-docs: doxygen is missing: apt-get install doxygen (as root)" >&2
			return 1
		fi
	fi
	echo "== C API reference: doxygen $(doxygen --version) over include/fastmap.h (docs/Doxyfile)"
	rm -rf "$out/c"
	mkdir -p "$out/c"
	local rc=0
	doxygen docs/Doxyfile >"$log" 2>&1 || rc=$?
	cat "$log"
	# QUIET: doxygen prints only warnings and errors; FAIL_ON_WARNINGS makes it exit nonzero after them.
	c_warn=$(grep -cE '(warning|error):' "$log" || true)
	if [ "$rc" -ne 0 ] || [ "$c_warn" -ne 0 ] || [ ! -f "$out/c/html/index.html" ]; then
		echo "api-docs: C reference FAILED (exit $rc, $c_warn warnings)" >&2
		[ "$c_warn" -ne 0 ] || c_warn=1
		return 1
	fi
	echo "api-docs: C reference: $out/c/html/index.html"
}

api_dotnet() {
	dotnet tool restore >/dev/null                      # docfx, pinned in dotnet-tools.json
	echo "== .NET API reference: docfx $(dotnet docfx --version 2>/dev/null | head -1) over src/FastMap (docs/docfx.json)"
	rm -rf "$out/dotnet" "$out/dotnet-yml"
	local rc=0
	# metadata (XML docs -> YAML, from the project through MSBuild) and build (YAML -> HTML), warnings as errors.
	dotnet docfx docs/docfx.json --warningsAsErrors >"$log" 2>&1 || rc=$?
	cat "$log"
	dotnet_warn=$(grep -oE '[0-9]+ warning\(s\)' "$log" | awk '{s+=$1} END {print s+0}')
	local errors
	errors=$(grep -oE '[0-9]+ error\(s\)' "$log" | awk '{s+=$1} END {print s+0}')
	dotnet_warn=$((dotnet_warn + errors))                # --warningsAsErrors reports warnings as errors
	if [ "$rc" -ne 0 ] || [ "$dotnet_warn" -ne 0 ] || [ ! -f "$out/dotnet/index.html" ]; then
		echo "api-docs: .NET reference FAILED (exit $rc, $dotnet_warn warnings or errors)" >&2
		[ "$dotnet_warn" -ne 0 ] || dotnet_warn=1
		return 1
	fi
	echo "api-docs: .NET reference: $out/dotnet/index.html (API pages under $out/dotnet/api/)"
}

for part in "${parts[@]}"; do
	case $part in
	c) api_c || status=1 ;;
	dotnet) api_dotnet || status=1 ;;
	*) echo "usage: scripts/api-docs.sh [c|dotnet]..." >&2; exit 2 ;;
	esac
done
total=0
for w in "$c_warn" "$dotnet_warn"; do [ "$w" = - ] || total=$((total + w)); done
echo "api-docs: $total warnings (c: $c_warn, dotnet: $dotnet_warn)"
exit "$status"
