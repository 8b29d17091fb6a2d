#!/usr/bin/env bash
# Tests the packages a user installs, the way a user installs them, with nothing pointing into this tree:
#   dotnet  `dotnet pack src/FastMap` -> FastMap.<v>.nupkg (+ .snupkg); checks the package's metadata and
#           files, then a fresh `dotnet new console` in a temporary directory adds FastMap from a local folder
#           feed and runs tests/packaging/dotnet/Program.cs (update, lookup, compare-and-delete, a batch pass).
#   c       `make -C native-exports dist` -> fastmap-<v>-linux-x64.tar.gz; checks its files, symlinks and soname,
#           unpacks it into a temporary prefix (then moves that prefix, to prove it relocatable) and builds
#           tests/packaging/c/consumer.c against it with pkg-config and with CMake's find_package, and runs both.
# Usage: scripts/test-packages.sh [dotnet|c]...      (default: both). Prints "packages: P passed, F failed".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' "$root/Directory.Build.props")
[ -n "$version" ] || { echo "test-packages: no <VersionPrefix> in Directory.Build.props" >&2; exit 1; }
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(dotnet c)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fastmap-packages.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1" >&2; failed=$((failed + 1)); }

# A consumer must not reach into the source tree: no file of its own build may name it.
no_tree_paths() { # dir...
	[ -z "$(grep -rIl -e "$root" "$@" 2>/dev/null)" ]
}
# has TEXT PATTERN: grep -q on a string (no pipe, so pipefail never sees a writer killed by SIGPIPE).
has() { grep -q -e "$2" <<<"$1"; }

test_dotnet() {
	local feed=$tmp/feed app=$tmp/dotnet-app out nupkg snupkg nuspec
	echo "== .NET package: dotnet pack src/FastMap (version $version)"
	dotnet pack "$root/src/FastMap" -c Release -o "$feed" --nologo
	nupkg=$feed/FastMap.$version.nupkg
	snupkg=$feed/FastMap.$version.snupkg
	if [ ! -f "$nupkg" ] || [ ! -f "$snupkg" ]; then
		fail "dotnet: pack made no FastMap.$version.nupkg and .snupkg"
		return
	fi
	nuspec=$(unzip -p "$nupkg" FastMap.nuspec)
	local ok=1 want list
	for want in "<id>FastMap</id>" "<version>$version</version>" '<license type="expression">MIT</license>' \
		"<readme>README.md</readme>" '<repository type="git" url="https://' "<description>" "<tags>"; do
		grep -qF "$want" <<<"$nuspec" || { echo "nuspec lacks $want" >&2; ok=0; }
	done
	list=$(unzip -l "$nupkg")
	for want in lib/net10.0/FastMap.dll lib/net10.0/FastMap.xml README.md LICENSE; do
		has "$list" " $want\$" || { echo "nupkg lacks $want" >&2; ok=0; }
	done
	has "$(unzip -l "$snupkg")" ' lib/net10.0/FastMap.pdb$' || { echo "snupkg lacks lib/net10.0/FastMap.pdb" >&2; ok=0; }
	if [ $ok = 1 ]; then pass "dotnet: package metadata (id, version, MIT, readme, repository, xml docs, snupkg)"; else fail "dotnet: package metadata"; fi

	# The consumer: a folder feed for FastMap, and for everything else the feeds this machine restores from
	# (its user-level NuGet.Config). Source mapping sends FastMap to the folder only, so a package of the same
	# name on a public feed cannot stand in; a private global-packages folder keeps an older extracted 0.1.0 out.
	mkdir -p "$app"
	local sources src i=0
	sources=$(cd "$tmp" && dotnet nuget list source --format short 2>/dev/null | awk '$1 == "E" { print $2 }')
	{
		echo '<?xml version="1.0" encoding="utf-8"?>'
		echo '<configuration>'
		echo '  <packageSources>'
		echo '    <clear />'
		echo "    <add key=\"fastmap-local\" value=\"$feed\" />"
		for src in $sources; do
			i=$((i + 1))
			echo "    <add key=\"machine-$i\" value=\"$src\" />"
		done
		echo '  </packageSources>'
		echo '  <packageSourceMapping>'
		echo '    <packageSource key="fastmap-local"><package pattern="FastMap" /></packageSource>'
		for ((j = 1; j <= i; j++)); do
			echo "    <packageSource key=\"machine-$j\"><package pattern=\"*\" /></packageSource>"
		done
		echo '  </packageSourceMapping>'
		echo '</configuration>'
	} >"$app/nuget.config"
	export NUGET_PACKAGES=$tmp/nuget-packages
	echo "== .NET package: a fresh console app in $app"
	if ! (cd "$app" && dotnet new console --name FmConsumer --output . --force >/dev/null &&
		dotnet add package FastMap --version "$version" &&
		cp "$root/tests/packaging/dotnet/Program.cs" Program.cs &&
		grep -q '<PackageReference Include="FastMap" Version="'"$version"'"' FmConsumer.csproj); then
		fail "dotnet: create the console app and add the package"
		unset NUGET_PACKAGES
		return
	fi
	if out=$(cd "$app" && dotnet run -c Release 2>&1); then
		echo "$out" | tail -5
	else
		echo "$out" | tail -30 >&2
	fi
	unset NUGET_PACKAGES
	if has "$out" '^fastmap-package: ok$' && has "$out" '^batch: ok (48 deleted, 1 kept)$'; then
		pass "dotnet: consumer app (update, lookup, compare-and-delete, LookupBatch + CompareAndDeleteBatch)"
	else
		fail "dotnet: consumer app"
	fi
	# It used the package from the folder feed, and nothing of its build names this tree.
	if grep -q "\"FastMap/$version\"" "$app/obj/project.assets.json" &&
		[ -f "$tmp/nuget-packages/fastmap/$version/lib/net10.0/FastMap.xml" ] &&
		no_tree_paths "$app/obj" "$app/FmConsumer.csproj" "$app/nuget.config"; then
		pass "dotnet: restored FastMap $version from the folder feed, no path into the source tree"
	else
		fail "dotnet: restore provenance"
	fi
}

test_c() {
	local tarball=$root/native-exports/dist/fastmap-$version-linux-x64.tar.gz prefix=$tmp/c-prefix
	echo "== C dist tarball: make -C native-exports dist"
	make -C "$root/native-exports" dist
	if [ ! -f "$tarball" ]; then
		fail "c: make dist made no $tarball"
		return
	fi
	mkdir -p "$tmp/unpack"
	tar -xzf "$tarball" -C "$tmp/unpack"
	# Moved after unpacking: whatever the tree finds of itself, it finds relative to where it is now.
	mv "$tmp/unpack/fastmap-$version-linux-x64" "$prefix"
	local ok=1 f
	for f in lib/libfastmap.so.$version include/fastmap.h lib/pkgconfig/fastmap.pc \
		lib/cmake/FastMap/FastMapConfig.cmake lib/cmake/FastMap/FastMapConfigVersion.cmake LICENSE; do
		[ -f "$prefix/$f" ] && [ ! -L "$prefix/$f" ] || { echo "tarball lacks $f" >&2; ok=0; }
	done
	[ "$(readlink "$prefix/lib/libfastmap.so.$major")" = "libfastmap.so.$version" ] || { echo "bad libfastmap.so.$major link" >&2; ok=0; }
	[ "$(readlink "$prefix/lib/libfastmap.so")" = "libfastmap.so.$major" ] || { echo "bad libfastmap.so link" >&2; ok=0; }
	has "$(readelf -d "$prefix/lib/libfastmap.so.$version")" "(SONAME).*\[libfastmap.so.$major\]" ||
		{ echo "soname is not libfastmap.so.$major" >&2; ok=0; }
	cmp -s "$prefix/include/fastmap.h" "$root/include/fastmap.h" || { echo "fastmap.h differs from include/" >&2; ok=0; }
	grep -q '^prefix=${pcfiledir}/../..$' "$prefix/lib/pkgconfig/fastmap.pc" || { echo "fastmap.pc is not relocatable" >&2; ok=0; }
	no_tree_paths "$prefix/lib/pkgconfig" "$prefix/lib/cmake" || { echo "the tarball's text files name the build tree" >&2; ok=0; }
	if [ $ok = 1 ]; then pass "c: tarball layout (lib/libfastmap.so.$version, .so.$major, .so, soname, header, pc, cmake)"; else fail "c: tarball layout"; fi

	# pkg-config: the README's build line, verbatim but for -Werror.
	mkdir -p "$tmp/c-pkgconfig"
	cp "$root/tests/packaging/c/consumer.c" "$tmp/c-pkgconfig/"
	if (cd "$tmp/c-pkgconfig" && export PKG_CONFIG_PATH=$prefix/lib/pkgconfig &&
		[ "$(pkg-config --modversion fastmap)" = "$version" ] &&
		${CC:-cc} -O2 -Wall -Wextra -Werror -o consumer consumer.c $(pkg-config --cflags --libs fastmap) &&
		has "$(readelf -d consumer)" "(NEEDED).*\[libfastmap.so.$major\]" &&
		has "$(ldd ./consumer)" "libfastmap.so.$major => $prefix/lib/" &&
		run=$(./consumer) && echo "$run" && has "$run" '^fastmap-c-package: ok$'); then
		pass "c: pkg-config consumer builds, records libfastmap.so.$major, loads it from the unpacked prefix, runs"
	else
		fail "c: pkg-config consumer"
	fi

	# CMake: find_package(FastMap <version> CONFIG REQUIRED) through CMAKE_PREFIX_PATH.
	mkdir -p "$tmp/c-cmake"
	cp "$root/tests/packaging/c/consumer.c" "$root/tests/packaging/c/CMakeLists.txt" "$tmp/c-cmake/"
	if (cd "$tmp/c-cmake" &&
		cmake -S . -B build -DCMAKE_PREFIX_PATH="$prefix" -DFASTMAP_WANT="$version" >/dev/null &&
		grep -q "^FastMap_DIR:PATH=$prefix/lib/cmake/FastMap\$" build/CMakeCache.txt &&
		cmake --build build >/dev/null &&
		has "$(ldd build/consumer)" "libfastmap.so.$major => $prefix/lib/" &&
		run=$(build/consumer) && echo "$run" && has "$run" '^fastmap-c-package: ok$' &&
		no_tree_paths build); then
		pass "c: CMake consumer (find_package(FastMap $version CONFIG), FastMap::fastmap) builds and runs"
	else
		fail "c: CMake consumer"
	fi
	# The version file turns away what this package cannot serve.
	if (cd "$tmp/c-cmake" && ! cmake -S . -B build-next -DCMAKE_PREFIX_PATH="$prefix" \
		-DFASTMAP_WANT="$major.$((minor + 1))" >/dev/null 2>&1); then
		pass "c: FastMapConfigVersion.cmake refuses a newer minor version"
	else
		fail "c: FastMapConfigVersion.cmake accepted a newer minor version"
	fi
}

for part in "${parts[@]}"; do
	case $part in
	dotnet) test_dotnet ;;
	c) test_c ;;
	*) echo "test-packages: unknown part $part (dotnet, c)" >&2; exit 2 ;;
	esac
done
echo "packages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
