#!/usr/bin/env bash
# Runs every test of the solution against real PostgreSQL, Redis and mosquitto (started by scripts/deps.sh),
# then prints "N passed, N failed" from the test results. Exit code: 0 only when nothing failed.
# A test still running after the hang budget (GOALGPT_TEST_HANG_BUDGET, default 5m) is stopped with a dump
# of the test host under .local/test-results; every test that did not run counts as failed and is named.
# Arguments go to `dotnet test` (e.g. --filter "FullyQualifiedName~IngestTests").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

bash scripts/deps.sh
# shellcheck disable=SC1091
. .local/env

results="$root/.local/test-results"
rm -rf "$results"
mkdir -p "$results"

# Each run starts from what the tests need and nothing an earlier run (or ./run.sh) left: an earlier
# run's Redis keys (membership of silos killed without leaving, leases, the rate limit's state; kept
# across restarts by the append-only file) and the databases of a run that was stopped midway.
# shellcheck disable=SC1091
. .local/secrets
REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$GOALGPT_REDIS_PORT" -n "$GOALGPT_TEST_REDIS_DB" flushdb >/dev/null
export PGPASSWORD="$PG_PASSWORD"
for db in $(psql -h 127.0.0.1 -p "$GOALGPT_PG_PORT" -U goalgpt -d goalgpt_test -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'goalgpt\_t\_%'"); do
  psql -h 127.0.0.1 -p "$GOALGPT_PG_PORT" -U goalgpt -d goalgpt_test -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done
unset PGPASSWORD REDIS_PASSWORD PG_PASSWORD

# The longest test (the lagging-API match run) takes under 3 minutes on two cores. A hung test thus ends
# the run within budget + a few minutes.
hang_budget="${GOALGPT_TEST_HANG_BUDGET:-5m}"

closing() { if [ "${3:-0}" -gt 0 ]; then echo "$1 passed, $2 failed, $3 skipped"; else echo "$1 passed, $2 failed"; fi; }

# The managed stacks in a hang dump: every thread to a file beside it, the test threads printed here.
# dotnet-dump comes from NuGet into .local/tools the first time a dump needs reading.
stacks() {
  local tool="$root/.local/tools/dotnet-dump" out="${dump%.dmp}.stacks.txt"
  if [ ! -x "$tool" ] && ! timeout 180 dotnet tool install --tool-path "$root/.local/tools" dotnet-dump >/dev/null 2>&1; then
    echo "  (dotnet-dump could not be installed; read it with: dotnet-dump analyze '$dump' -c 'clrstack -all')"; return
  fi
  timeout 180 "$tool" analyze "$dump" -c "clrstack -all" -c exit > "$out" 2>&1 || true
  local inside
  inside=$(awk '/^OS Thread Id/ { if (keep) printf "%s", block; block = ""; keep = 0; lines = 0 }
       lines++ < 40 { block = block "    " $0 "\n" }
       /Orleans\.GoalGpt|Xunit\.Sdk\.TestInvoker/ { keep = 1 }
       END { if (keep) printf "%s", block }' "$out" | sed -E 's/^( *)[0-9A-Fa-f]{16} [0-9A-Fa-f]{16} /\1/' | cut -c1-220)
  if [ -n "$inside" ]; then
    echo "  the threads inside a test (innermost 40 frames; all threads: $out):"
    printf '%s\n' "$inside"
  else
    # A thread busy in JIT-compiled code when the dump was taken cannot always be unwound from a mini dump.
    echo "  no thread with a test frame could be unwound; all threads: $out"
  fi
}

set +e
dotnet build Orleans.GoalGpt.sln --nologo -v q
build=$?
set -e
if [ "$build" -ne 0 ]; then
  echo "build failed: no test ran"
  closing 0 1
  exit 1
fi

# What should run: every test the runner discovers (with the caller's filter, if any).
set +e
dotnet test Orleans.GoalGpt.sln --no-build --nologo -v q --list-tests "$@" > "$results/discovered.log" 2>&1
listed=$?
set -e
sed -n 's/^    //p' "$results/discovered.log" | LC_ALL=C sort > "$results/discovered.txt"
if [ "$listed" -ne 0 ] || [ ! -s "$results/discovered.txt" ]; then
  tail -20 "$results/discovered.log"
  echo "no test discovered"
  closing 0 1
  exit 1
fi

# One test host per call; its results in <name>.trx. Exit status: the test host's.
run_tests() {
  local name="$1"; shift
  dotnet test Orleans.GoalGpt.sln --no-build --nologo -v q \
    --blame-hang-timeout "$hang_budget" --blame-hang-dump-type mini \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
    --results-directory "$results" "$@"
}

set +e
if [ "$#" -gt 0 ]; then
  run_tests results "$@"
  status=$?
else
  # The whole suite fits CI's time only with the long waits overlapped: first the tests of the tracks
  # (Tests/Infrastructure/Tracks.cs: they never stop a shared server and assert nothing about time), two
  # test hosts side by side, their output prefixed; then everything else in one host, alone, as before.
  # Beside them, as root, the bounded chaos run (chaos/run.sh: silo processes in network namespaces,
  # a partition and a kill -9; its own servers, so it stops none of the tests'); each required result
  # counts into the closing line. Without root it cannot make namespaces: named and counted as skipped.
  if [ "$(id -u)" -eq 0 ]; then
    bash chaos/run.sh --no-build > "$results/chaos.log" 2>&1 &
    chaos=$!
  else
    echo "chaos suite not run: it needs root (network namespaces); counted as skipped"
    chaos=""
  fi
  run_tests waits --filter "Track=waits" 2>&1 | sed -u 's/^/[waits] /' &
  waits=$!
  run_tests shared --filter "Track=shared" 2>&1 | sed -u 's/^/[shared] /'
  shared_status=${PIPESTATUS[0]}
  wait "$waits"
  waits_status=$?
  if [ -n "$chaos" ]; then
    wait "$chaos"
    sed 's/^/[chaos] /' "$results/chaos.log"
  fi
  run_tests alone --filter "Track!=waits&Track!=shared"
  status=$?
  if [ "$shared_status" -ne 0 ] || [ "$waits_status" -ne 0 ]; then status=1; fi
fi
set -e

# The trx holds the tests that ran; a test host stopped for a hang (or a crash) leaves the rest out.
unescape() { sed -e 's/&quot;/"/g' -e "s/&apos;/'/g" -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&amp;/\&/g'; }
: > "$results/ran.txt"
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  grep -o '<UnitTestResult [^>]*>' "$trx" | while read -r line; do
    name=$(printf '%s' "$line" | grep -o ' testName="[^"]*"' | sed 's/^ testName="//; s/"$//' | unescape)
    outcome=$(printf '%s' "$line" | grep -o ' outcome="[^"]*"' | sed 's/^ outcome="//; s/"$//')
    printf '%s\t%s\n' "$outcome" "$name"
  done >> "$results/ran.txt"
done
passed=$(grep -c '^Passed	' "$results/ran.txt" || true)
skipped=$(grep -c '^NotExecuted	' "$results/ran.txt" || true)
failed=$(grep -vc '^\(Passed\|NotExecuted\)	' "$results/ran.txt" || true)

# Not run: discovered, without a result (compared as lists, so that theory rows count one by one).
cut -f2 "$results/ran.txt" | LC_ALL=C sort > "$results/ran-names.txt"
LC_ALL=C comm -23 "$results/discovered.txt" "$results/ran-names.txt" > "$results/not-run.txt"
not_run=$(wc -l < "$results/not-run.txt")

for sequence in "$results"/*/Sequence_*.xml; do
  [ -f "$sequence" ] || continue
  grep -o 'DisplayName="[^"]*" [^>]*Completed="False"' "$sequence" | sed 's/^DisplayName="//; s/" .*//' | unescape |
    while read -r unfinished; do echo "running when the test host was stopped: $unfinished"; done
done
for dump in "$results"/*/*.dmp; do
  [ -f "$dump" ] || continue
  echo "a test ran longer than $hang_budget: the test host was stopped, its dump: $dump"
  stacks
done

if [ "$not_run" -gt 0 ]; then
  echo "$not_run tests have no result (stopped unfinished or never started), counted as failed: $(paste -sd ';' "$results/not-run.txt" | sed 's/;/; /g')"
fi
failed=$((failed + not_run))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "dotnet test exited with $status although every test passed"
  failed=1
fi
# The chaos run's required results (its last line "CHAOS N passed, N failed"; none at all is one failure).
if [ "$#" -eq 0 ]; then
  if [ -z "$chaos" ]; then
    skipped=$((skipped + 1))
  elif chaos_line=$(grep -E '^CHAOS [0-9]+ passed, [0-9]+ failed$' "$results/chaos.log" | tail -1); then
    passed=$((passed + $(echo "$chaos_line" | awk '{print $2}')))
    failed=$((failed + $(echo "$chaos_line" | awk '{print $4}')))
  else
    echo "the chaos run ended without a result: $results/chaos.log"
    failed=$((failed + 1))
  fi
fi
# Every failure named once more at the end, beside the closing line, where a CI log's tail shows it.
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  perl -0777 -ne 'while (/<UnitTestResult [^>]*testName="([^"]*)"[^>]*outcome="Failed".*?<\/UnitTestResult>/sg) {
      my ($n, $b) = ($1, $&); my ($m) = $b =~ /<Message>(.*?)<\/Message>/s; $m //= ""; $m =~ s/\s+/ /g;
      for ($n, $m) { s/&quot;/"/g; s/&apos;/\x27/g; s/&lt;/</g; s/&gt;/>/g; s/&amp;/&/g; }
      print "FAILED test: $n: ", substr($m, 0, 400), "\n"; }' "$trx" || true
done
if [ "$#" -eq 0 ] && [ -n "$chaos" ]; then grep -E '\] FAIL ' "$results/chaos.log" | sed 's/^/FAILED chaos: /' || true; fi
closing "$passed" "$failed" "$skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
