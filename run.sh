#!/usr/bin/env bash
# Runs the service: starts PostgreSQL, Redis and mosquitto on 127.0.0.1 (installing what is missing),
# applies the migrations, starts the feed simulator unless Provider__BaseUrl points at a real provider,
# then runs the silo in the foreground (Ctrl+C or SIGTERM stops it gracefully, and the simulator with it).
# Local mode: the silo listens on 127.0.0.1 only (its default when Urls / ASPNETCORE_URLS are unset) and
# its Orleans Dashboard opens without credentials to loopback clients (Dashboard__AllowAnonymousOnLoopback).
# Nothing secret is printed: the database password stays in .local/secrets.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

bash scripts/deps.sh
# shellcheck disable=SC1091
. .local/env

dotnet build Silo/Silo.csproj --nologo -v q -c Release
silo_dir="$root/Silo/bin/Release/net10.0"
(cd "$silo_dir" && dotnet Orleans.GoalGpt.Silo.dll migrate)

# Whatever stops this script (Ctrl+C, SIGTERM, an error) stops what it started.
stop() {
  if [ -n "${silo_pid:-}" ]; then
    kill -TERM "$silo_pid" 2>/dev/null || true
    wait "$silo_pid" 2>/dev/null || true
  fi
  if [ -n "${sim_pid:-}" ]; then kill -TERM "$sim_pid" 2>/dev/null || true; fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

if [ -z "${Provider__BaseUrl:-}" ]; then
  dotnet build Simulator/Simulator.csproj --nologo -v q -c Release
  sim_port="${GOALGPT_SIMULATOR_PORT:-8090}"
  Urls="http://127.0.0.1:$sim_port" Simulator__Mqtt__Port="$GOALGPT_MQTT_PORT" \
    dotnet Simulator/bin/Release/net10.0/Orleans.GoalGpt.Simulator.dll > .local/simulator.log 2>&1 &
  sim_pid=$!
  export Provider__BaseUrl="http://127.0.0.1:$sim_port/v1/football"
  export Mqtt__Host=127.0.0.1 Mqtt__Port="$GOALGPT_MQTT_PORT"
  echo "[run] feed simulator: http://127.0.0.1:$sim_port/sim/truth (ground truth), log .local/simulator.log"
fi
: "${Mqtt__Host:?set Mqtt__Host, the MQTT broker of the provider, or Mqtt__Enabled=false}"

# Local mode of the dashboard (the silo refuses to serve it without credentials otherwise).
export Dashboard__AllowAnonymousOnLoopback="${Dashboard__AllowAnonymousOnLoopback:-true}"
silo_url="${Urls:-http://127.0.0.1:8080}"
silo_url="${silo_url%%;*}"
echo "[run] silo: $silo_url/health/ready  metrics: $silo_url/metrics  dashboard: $silo_url/dashboard  matches per silo: $silo_url/ops/activations"
echo "[run] live board: $silo_url/  read API: $silo_url/v1/matches/live  change stream: $silo_url/v1/stream  OpenAPI: $silo_url/openapi/v1.json"
echo "[run] the silo logs 'ts_matches: N live matches' every 15 s; to look yourself (the password is read from .local/secrets, not shown):"
echo "      (. .local/secrets && PGPASSWORD=\"\$PG_PASSWORD\" psql -h 127.0.0.1 -p ${GOALGPT_PG_PORT:-55432} -U goalgpt goalgpt -c 'SELECT external_id, status_id, minute_text, home_score, away_score FROM ts_matches WHERE status_id IN (2,3,4,5,7)')"
# The silo runs in the background of this script so that INT and TERM reach it (and the simulator)
# however this script is stopped; the script ends with the silo's exit code.
(cd "$silo_dir" && exec dotnet Orleans.GoalGpt.Silo.dll "$@") &
silo_pid=$!
set +e
wait "$silo_pid"
status=$?
set -e
exit "$status"
