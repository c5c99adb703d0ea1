#!/usr/bin/env bash
# The chaos suite: silo processes, each in its own network namespace, fed by the feed simulator (HTTP +
# MQTT) and by direct writers, under real faults (iptables in a namespace, kill -9, a slow path to
# PostgreSQL, the servers' own restarts); compares ts_matches with what the grains answered Applied and
# with the simulator's ground truth; writes chaos/results/<name>.md + .json. Root only (namespaces).
#
#   chaos/run.sh            bounded (CI): partition + kill -9, ~4 min with the build (loaded 2-core machine)
#   chaos/run.sh --full     every fault + scale-out with 1, 2, 3 silos, ~13 min (Release build)
#   chaos/run.sh --name X   report name (default: bounded / full)
#   chaos/run.sh --no-build use what is built (test.sh builds the solution, then runs this beside the tests)
#
# Exit code 0 only when every required result passed; the last line is "CHAOS N passed, N failed".
# Everything it creates (namespaces ggc-*, veths, the servers under /var/tmp/goalgpt-chaos-*) is removed
# at exit, also after a failure; a run killed with -9 is cleaned up by the next one (or chaos/ctl.sh down).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=bounded
name=""
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --full) mode=full ;;
    --name) name="$2"; shift ;;
    --no-build) build=0 ;;
    *) echo "usage: chaos/run.sh [--full] [--name NAME] [--no-build]" >&2; exit 2 ;;
  esac
  shift
done
name="${name:-$mode}"
if [ "$(id -u)" -ne 0 ]; then echo "[chaos] needs root (network namespaces, iptables)"; echo "CHAOS 0 passed, 1 failed"; exit 1; fi

missing=()
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || missing+=(iproute2)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[chaos] installing ${missing[*]}"
  apt-get update -qq
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

config=Debug
[ "$mode" = full ] && config=Release
ctl="$root/chaos/ctl.sh"
logs="$root/chaos/results/logs-$name"
rm -rf "$logs"; mkdir -p "$logs"

cleanup() {
  local status=$?
  if [ -n "${sim_pid:-}" ]; then kill "$sim_pid" 2>/dev/null || true; fi
  bash "$ctl" down || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of a run that was killed: its namespaces, processes in them, its servers.
bash "$ctl" down
started=$(date +%s)
if [ "$build" = 1 ] && ! dotnet build chaos/Orleans.GoalGpt.Chaos -c "$config" --nologo -v q > "$logs/build.log" 2>&1; then
  tail -20 "$logs/build.log"; echo "[chaos] build failed"; echo "CHAOS 0 passed, 1 failed"; exit 1
fi
echo "[chaos] built ($config) in $(( $(date +%s) - started )) s"
bash "$ctl" up
eval "$(bash "$ctl" env)"
silo_dll="$root/Silo/bin/$config/net10.0/Orleans.GoalGpt.Silo.dll"

# The schema, once, from the hub (connection strings through the environment, never the command line).
(
  export ConnectionStrings__Postgres="$CHAOS_PG" ConnectionStrings__Redis="$CHAOS_REDIS"
  cd "$(dirname "$silo_dll")" && ip netns exec ggc-hub dotnet "$silo_dll" migrate > "$logs/migrate.log" 2>&1
) || { tail -5 "$logs/migrate.log"; echo "CHAOS 0 passed, 1 failed"; exit 1; }

# The feed simulator in the hub: HTTP on 10.231.0.1:18313, MQTT to the hub's broker; its own faults off,
# so that every difference from its ground truth comes from the faults injected here.
sim_url="http://$CHAOS_HUB_IP:18313"
(
  export Urls="$sim_url" Simulator__Mqtt__Host="$CHAOS_HUB_IP" Simulator__Mqtt__Port="$CHAOS_MQTT_PORT" Simulator__Matches=300
  for f in ErrorBody ErrorCode RateLimitCode Http429 Http5xx Slow MalformedJson StatusRegression ZeroKickoff MqttDrop MqttDuplicate MqttReorder; do
    export "Simulator__Faults__$f=0"
  done
  cd "$root/Simulator/bin/$config/net10.0" && exec ip netns exec ggc-hub dotnet Orleans.GoalGpt.Simulator.dll
) > "$logs/simulator.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 120); do
  ip netns exec ggc-hub bash -c "exec 3<>/dev/tcp/$CHAOS_HUB_IP/18313" 2>/dev/null && break
  sleep 0.5
done

export CHAOS_SILO_DLL="$silo_dll" CHAOS_CTL="$ctl" CHAOS_OUT="$root/chaos/results" CHAOS_LOGS="$logs" CHAOS_NAME="$name" \
  CHAOS_SIM_URL="$sim_url" CHAOS_MODE="$mode"
set +e
ip netns exec ggc-hub dotnet "$root/chaos/Orleans.GoalGpt.Chaos/bin/$config/net10.0/Orleans.GoalGpt.Chaos.dll" 2>&1 | tee "$logs/driver.log"
status=${PIPESTATUS[0]}
set -e
if ! tail -1 "$logs/driver.log" | grep -q '^CHAOS '; then
  echo "[chaos] the driver ended without a result (exit $status); logs in $logs"
  echo "CHAOS 0 passed, 1 failed"
  [ "$status" -ne 0 ] || status=1
fi
echo "[chaos] took $(( $(date +%s) - started )) s in total"
exit "$status"
