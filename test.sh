#!/usr/bin/env bash
# Runs every test of the solution against real PostgreSQL, Redis and mosquitto (started by scripts/deps.sh),
# then prints "N passed, N failed" from the test results. Exit code: 0 only when nothing failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

bash scripts/deps.sh
# shellcheck disable=SC1091
. .local/env

results="$root/.local/test-results"
rm -rf "$results"
mkdir -p "$results"

set +e
dotnet test Orleans.GoalGpt.sln --nologo -v q \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$results" "$@"
status=$?
set -e

passed=0; failed=0; total=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { printf '%s' "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  total=$((total + $(get total)))
done

if [ "$total" -eq 0 ]; then
  echo "no test results found (build failed?)"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
