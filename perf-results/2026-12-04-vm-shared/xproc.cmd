dotnet run -c Release --project bench/FastMap.Stress -- --workloads xproc-gc-race,xproc-gc-pass,xproc-lookup --out perf-results/2026-12-04-vm-shared/xproc
