dotnet run -c Release --project bench/FastMap.Stress -- --quick --out perf-results/2026-12-04-vm-shared/quick
