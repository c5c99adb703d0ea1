#!/usr/bin/env bash
# The chaos suite's network and dependencies (root only): network namespaces, veth pairs, a bridge,
# PostgreSQL / Redis / mosquitto listening inside the hub namespace, and the faults (iptables in a
# silo's namespace, the servers' own stop/start). Used by chaos/run.sh and by the driver.
#
# Topology (nothing routed anywhere: no default route, no address outside 10.231.0.0/24):
#   ggc-hub  bridge ggc-br 10.231.0.1/24: PostgreSQL :18310, Redis :18311, mosquitto :18312,
#            simulator :18313, the driver (and its PostgreSQL proxy :18315)
#   ggc-sN   eth0 10.231.0.1N/24 (N = 1..3), veth peer ggc-vN on the hub's bridge: one silo each
#
#   ctl.sh up | down | partition-silos N | cut-redis N | heal N | restart-pg | restart-redis | restart-mqtt | env
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HUB=ggc-hub
HUB_IP=10.231.0.1
SILOS="${CHAOS_SILOS:-3}"
PG_PORT=18310
REDIS_PORT=18311
MQTT_PORT=18312
state="/var/tmp/goalgpt-chaos-$(printf '%s' "$root" | md5sum | cut -c1-12)"
pgdata="$state/pg/data"

log() { printf '[chaos] %s\n' "$*" >&2; }
in_hub() { ip netns exec "$HUB" "$@"; }
as_pg() { (cd / && runuser -u postgres -- "$@"); }
pg_bin() { dirname "$(command -v pg_ctl 2>/dev/null || echo /usr/lib/postgresql/15/bin/pg_ctl)"; }
silo_ip() { printf '10.231.0.1%s' "$1"; }

# Everything of an earlier run (also of one killed with -9): processes in our namespaces, the
# namespaces (their veths go with them), the servers' state.
down() {
  if [ -f "$pgdata/postmaster.pid" ]; then as_pg "$(pg_bin)/pg_ctl" -D "$pgdata" -m immediate -w -t 20 stop >/dev/null 2>&1 || true; fi
  for ns in $(ip netns list 2>/dev/null | awk '/^ggc-/ { print $1 }'); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  for ns in $(ip netns list 2>/dev/null | awk '/^ggc-/ { print $1 }'); do
    for _ in $(seq 1 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$state"
}

net_up() {
  ip netns add "$HUB"
  in_hub ip link set lo up
  in_hub ip link add ggc-br type bridge
  in_hub ip addr add "$HUB_IP/24" dev ggc-br
  in_hub ip link set ggc-br up
  for n in $(seq 1 "$SILOS"); do
    ip netns add "ggc-s$n"
    ip link add "ggc-v$n" netns "$HUB" type veth peer name eth0 netns "ggc-s$n"
    in_hub ip link set "ggc-v$n" master ggc-br
    in_hub ip link set "ggc-v$n" up
    ip -n "ggc-s$n" link set lo up
    ip -n "ggc-s$n" addr add "$(silo_ip "$n")/24" dev eth0
    ip -n "ggc-s$n" link set eth0 up
  done
}

deps_up() {
  install -d -m 0755 "$state"
  (umask 077; printf 'PG_PASSWORD=%s\nREDIS_PASSWORD=%s\n' "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')" \
    "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')" > "$state/secrets")
  # shellcheck disable=SC1091
  . "$state/secrets"
  # PostgreSQL: a cluster of its own, owned by postgres (initdb refuses root), listening on the hub only.
  install -d -m 0700 -o postgres "$state/pg"
  pwfile="$state/pg/pwfile"; printf '%s\n' "$PG_PASSWORD" > "$pwfile"; chown postgres: "$pwfile"; chmod 600 "$pwfile"
  as_pg "$(pg_bin)/initdb" -D "$pgdata" -U goalgpt --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$state/pg/initdb.log" 2>&1 || { tail -5 "$state/pg/initdb.log"; exit 1; }
  rm -f "$pwfile"
  cat >> "$pgdata/postgresql.conf" <<CONF
listen_addresses = '$HUB_IP'
port = $PG_PORT
unix_socket_directories = '$pgdata'
max_connections = 300
shared_buffers = 128MB
fsync = on
synchronous_commit = on
logging_collector = off
CONF
  echo "host all all 10.231.0.0/24 scram-sha-256" >> "$pgdata/pg_hba.conf"
  pg_start
  as_pg psql -h "$pgdata" -p "$PG_PORT" -U goalgpt -d postgres -qc "CREATE DATABASE goalgpt" >/dev/null
  # Redis: password, append-only, no eviction (docs/design.md, "Redis").
  install -d -m 0700 "$state/redis"
  (umask 077; cat > "$state/redis/redis.conf") <<CONF
bind $HUB_IP
port $REDIS_PORT
requirepass $REDIS_PASSWORD
daemonize yes
dir $state/redis
pidfile $state/redis/redis.pid
logfile $state/redis/redis.log
save ""
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
CONF
  redis_start
  install -d -m 0755 "$state/mosquitto"
  cat > "$state/mosquitto/mosquitto.conf" <<CONF
listener $MQTT_PORT $HUB_IP
allow_anonymous true
user root
persistence false
pid_file $state/mosquitto/mosquitto.pid
log_dest file $state/mosquitto/mosquitto.log
CONF
  mqtt_start
}

pg_start() { in_hub runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$pgdata" -l "$state/pg/server.log" -w -t 60 start >/dev/null; }
redis_cli() { . "$state/secrets"; REDISCLI_AUTH="$REDIS_PASSWORD" in_hub redis-cli -h "$HUB_IP" -p "$REDIS_PORT" "$@"; }
redis_start() {
  in_hub redis-server "$state/redis/redis.conf"
  for _ in $(seq 1 100); do redis_cli ping 2>/dev/null | grep -q PONG && return; sleep 0.1; done
  log "Redis did not answer"; exit 1
}
mqtt_up() { in_hub bash -c "(exec 3<>/dev/tcp/$HUB_IP/$MQTT_PORT) 2>/dev/null"; }
mqtt_start() {
  in_hub mosquitto -c "$state/mosquitto/mosquitto.conf" -d
  for _ in $(seq 1 100); do mqtt_up && return; sleep 0.1; done
  log "mosquitto did not answer"; exit 1
}

# Rules live in the silo's own namespace (its INPUT and OUTPUT chains), so a heal is a flush there.
drop_between() { # $1 silo, $2 address, $3 extra match (e.g. "-p tcp --dport 18311")
  local ns="ggc-s$1"
  # shellcheck disable=SC2086
  ip netns exec "$ns" iptables -A OUTPUT -d "$2" $3 -j DROP
  # shellcheck disable=SC2086
  ip netns exec "$ns" iptables -A INPUT -s "$2" ${3//--dport/--sport} -j DROP
}

case "${1:-}" in
  up) down; net_up; deps_up; log "namespaces and servers up (state $state)" ;;
  down) down ;;
  env)
    # shellcheck disable=SC1091
    . "$state/secrets"
    printf "export CHAOS_PG='Host=%s;Port=%s;Database=goalgpt;Username=goalgpt;Password=%s;Maximum Pool Size=20'\n" "$HUB_IP" "$PG_PORT" "$PG_PASSWORD"
    printf "export CHAOS_REDIS='%s:%s,password=%s,abortConnect=false'\n" "$HUB_IP" "$REDIS_PORT" "$REDIS_PASSWORD"
    printf "export CHAOS_HUB_IP=%s CHAOS_PG_PORT=%s CHAOS_REDIS_PORT=%s CHAOS_MQTT_PORT=%s\n" "$HUB_IP" "$PG_PORT" "$REDIS_PORT" "$MQTT_PORT"
    ;;
  partition-silos)
    for n in $(seq 1 "$SILOS"); do [ "$n" = "$2" ] || drop_between "$2" "$(silo_ip "$n")" ""; done ;;
  cut-redis) drop_between "$2" "$HUB_IP" "-p tcp --dport $REDIS_PORT" ;;
  heal) ip netns exec "ggc-s$2" iptables -F ;;
  rules) ip netns exec "ggc-s$2" iptables -S ;;
  restart-pg) as_pg "$(pg_bin)/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null; pg_start ;;
  restart-redis) redis_cli shutdown >/dev/null 2>&1 || true; sleep 0.5; redis_start ;;
  stop-mqtt) kill "$(cat "$state/mosquitto/mosquitto.pid")"; for _ in $(seq 1 50); do mqtt_up || break; sleep 0.1; done ;;
  start-mqtt) mqtt_start ;;
  *) echo "usage: $0 up|down|env|partition-silos N|cut-redis N|heal N|rules N|restart-pg|restart-redis|stop-mqtt|start-mqtt" >&2; exit 2 ;;
esac
