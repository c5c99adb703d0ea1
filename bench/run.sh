#!/usr/bin/env bash
# Runs the load benchmark (service vs. lock-per-write baseline, and this machine's limits) against
# local PostgreSQL and Redis; writes bench/results/latest.{json,md} and throughput.png.
# Micro-benchmarks of the merge rules: bench/run.sh --micro
# Accuracy against the simulator's ground truth (real time, default faults): bench/run.sh --accuracy [--matches 2000] [--minutes 10]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/deps.sh
# shellcheck disable=SC1091
. .local/env
dotnet build bench/Orleans.GoalGpt.Bench -c Release --nologo -v q
exec dotnet bench/Orleans.GoalGpt.Bench/bin/Release/net10.0/Orleans.GoalGpt.Bench.dll "$@"
