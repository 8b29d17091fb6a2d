#!/usr/bin/env bash
# Fuzzes FastMap's command layer (BpfAttr.Execute, what fm_bpf calls) with AFL++ over a
# SharpFuzz-instrumented FastMap.dll, then prints AFL's summary. See fuzz/README.md.
#   scripts/fuzz.sh [DURATION] [OUTDIR]     DURATION: 90s, 10m (default), 2h, or seconds
# OUTDIR (default $FASTMAP_FUZZ_OUT or /tmp/fastmap-fuzz) gets the instrumented build (bin/) and a
# new findings-<time>/ per run; the seeds come from fuzz/corpus. Installs afl++ (Debian, as root)
# and the SharpFuzz tool (dotnet-tools.json) when missing. One AFL instance: a 2-core machine.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
duration=${1:-10m}
out=${2:-${FASTMAP_FUZZ_OUT:-/tmp/fastmap-fuzz}}
case $out in /*) ;; *) out=$PWD/$out ;; esac

case $duration in
    *h) seconds=$(( ${duration%h} * 3600 )) ;;
    *m) seconds=$(( ${duration%m} * 60 )) ;;
    *s) seconds=${duration%s} ;;
    *) seconds=$duration ;;
esac

if ! command -v afl-fuzz >/dev/null 2>&1; then
    echo "== installing afl++"
    apt-get update -qq && apt-get install -y -qq afl++ >/dev/null
fi
cd "$root"
echo "== SharpFuzz instrumentation tool (dotnet tool restore)"
dotnet tool restore >/dev/null

bin=$out/bin
echo "== publish fuzz/FastMap.Fuzz into $bin and instrument FastMap.dll"
rm -rf "$bin"
dotnet publish fuzz/FastMap.Fuzz -c Release -o "$bin" --nologo -v quiet
# Only the engine is instrumented: edges in the harness or the runtime would be noise to AFL.
dotnet sharpfuzz "$bin/FastMap.dll"

findings=$out/findings-$(date -u +%Y%m%dT%H%M%SZ)
echo "== afl-fuzz for ${seconds}s into $findings"
# AFL_SKIP_BIN_CHECK: the target binary is dotnet, the instrumentation is in FastMap.dll.
# AFL_SKIP_CPUFREQ / AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES: a VM's governor and core_pattern are not ours.
# AFL_TRY_AFFINITY: pin to a free core if there is one (capacity shards are per CPU: one CPU keeps runs
# repeatable), and run anyway on a busy shared machine.
# -t 5000: a command program takes well under a millisecond; 5 s means a hang, not a busy machine (a
# 2 s limit saw one unreproducible timeout under load 6, and SharpFuzz then reports the next input as a crash).
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_TRY_AFFINITY=1 AFL_NO_UI=1
status=0
afl-fuzz -V "$seconds" -i "$root/fuzz/corpus" -o "$findings" -t 5000 -m none -- dotnet "$bin/FastMap.Fuzz.dll" \
    > "$findings.log" 2>&1 || status=$?

stats=$findings/default/fuzzer_stats
if [ ! -f "$stats" ]; then
    echo "afl-fuzz failed (exit $status); last lines of $findings.log:"
    tail -30 "$findings.log"
    exit 1
fi
echo "== summary ($stats)"
grep -E '^(start_time|last_update|run_time|execs_done|execs_per_sec|corpus_count|corpus_found|bitmap_cvg|edges_found|total_edges|stability|saved_crashes|saved_hangs|unique_crashes|unique_hangs) ' "$stats"
echo "crashes: $(find "$findings/default/crashes" -type f -name 'id:*' | wc -l), hangs: $(find "$findings/default/hangs" -type f -name 'id:*' | wc -l)"
echo "replay a finding: dotnet run -c Release --project fuzz/FastMap.Fuzz -- --replay $findings/default/crashes"
