#!/usr/bin/env bash
# Brings up the local dependencies (PostgreSQL 15, Redis with a password, mosquitto) on 127.0.0.1 and
# writes their connection strings to .local/env. Idempotent: what already runs is left running.
# `bash scripts/deps.sh stop` stops them again. Works from any directory, as root or not: as root,
# where the postgres user cannot reach the checkout, the cluster lives under /var/tmp.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/.local"
mkdir -p "$state"

PG_PORT="${GOALGPT_PG_PORT:-55432}"
REDIS_PORT="${GOALGPT_REDIS_PORT:-56379}"
MQTT_PORT="${GOALGPT_MQTT_PORT:-51883}"

log() { printf '[deps] %s\n' "$*"; }

# initdb refuses root: the cluster belongs to the postgres user. It must be able to reach the
# project folder; where a parent directory is closed to it, a folder under /var/tmp is used.
# (From /: the postgres user may not be able to enter the current folder.)
as_pg() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
pg_root() {
  if [ "$(id -u)" -eq 0 ] && ! as_pg test -x "$state" 2>/dev/null; then
    printf '%s/pg' "$(pg_fallback)"
  else
    printf '%s/pg' "$state"
  fi
}
pg_fallback() { printf '/var/tmp/goalgpt-%s' "$(printf '%s' "$root" | md5sum | cut -c1-12)"; }
pg_bin() { dirname "$(command -v pg_ctl 2>/dev/null || echo /usr/lib/postgresql/15/bin/pg_ctl)"; }

if [ "${1:-}" = stop ]; then
  PGBIN="$(pg_bin)"
  pgdata="$(pg_root)/data"
  if [ -f "$pgdata/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null && log "PostgreSQL stopped"
  fi
  if [ -f "$state/secrets" ]; then
    # shellcheck disable=SC1091
    . "$state/secrets"
    # The port it was started on, if .local/env tells.
    REDIS_PORT="$(sed -n "s/^export GOALGPT_REDIS_PORT='\([0-9]*\)'$/\1/p" "$state/env" 2>/dev/null | grep . || echo "$REDIS_PORT")"
    REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 && log "Redis stopped"
  fi
  pidfile="$state/mosquitto/mosquitto.pid"
  if [ -f "$pidfile" ] && pid="$(cat "$pidfile")" && kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$pidfile"; log "mosquitto stopped"
  fi
  exit 0
fi

need_root_for_install() {
  if [ "$(id -u)" -ne 0 ]; then
    log "missing $1 and not root: install it (apt-get install -y $1) and run again"; exit 1
  fi
}

# --- packages -----------------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
if ! command -v pg_ctl >/dev/null 2>&1 && [ ! -x /usr/lib/postgresql/15/bin/pg_ctl ]; then missing+=(postgresql-15); fi
# Checking the deployment files (tests): promtool, amtool, docker-compose (v1, validates offline).
if [ "${GOALGPT_SKIP_OPS_TOOLS:-}" != 1 ]; then
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  # The live board's browser test: Debian's chromium, driven by Playwright (which downloads no browser).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  need_root_for_install "${missing[*]}"
  log "installing ${missing[*]}"
  apt-get update -qq
  # No init system here: keep package scripts from starting the daemons they ship.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
PGBIN="$(pg_bin)"

# --- secrets (generated once per checkout, never committed) --------------------------------
# Readable by the owner only; the umask for that is set in a subshell, so that what is created
# afterwards (the PostgreSQL folder under /var/tmp above all) keeps the caller's.
if [ ! -f "$state/secrets" ]; then
  (
    umask 077
    printf 'PG_PASSWORD=%s\nREDIS_PASSWORD=%s\n' "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')" \
      "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')" > "$state/secrets"
  )
fi
# shellcheck disable=SC1091
. "$state/secrets"

# --- PostgreSQL ------------------------------------------------------------------------------
pgroot="$(pg_root)"
pgdata="$pgroot/data"
if [ "$pgroot" != "$state/pg" ]; then
  # The fallback: its parent open to the postgres user whatever the umask (/var/tmp itself is 1777).
  install -d -m 0755 "$(dirname "$pgroot")"
fi
mkdir -p "$pgroot"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$pgroot"; fi
chmod 700 "$pgroot"
if [ "$(id -u)" -eq 0 ] && ! as_pg test -w "$pgroot"; then
  log "the postgres user cannot write to $pgroot (a parent folder is closed to it)"; exit 1
fi
if [ ! -f "$pgdata/PG_VERSION" ]; then
  log "creating PostgreSQL cluster in $pgdata"
  pwfile="$pgroot/pwfile"; printf '%s\n' "$PG_PASSWORD" > "$pwfile"; chmod 600 "$pwfile"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$pwfile"; fi
  if ! as_pg "$PGBIN/initdb" -D "$pgdata" -U goalgpt --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$pgroot/initdb.log" 2>&1; then
    rm -f "$pwfile"; log "initdb failed, see $pgroot/initdb.log"; tail -5 "$pgroot/initdb.log"; exit 1
  fi
  rm -f "$pwfile"
  cat >> "$pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$pgdata'
max_connections = 200
shared_buffers = 256MB
fsync = on
logging_collector = off
CONF
fi
# Clusters made before this line had synchronous_commit off: a crash lost commits the writer had counted as written.
if grep -q '^synchronous_commit = off' "$pgdata/postgresql.conf" 2>/dev/null; then
  sed -i 's/^synchronous_commit = off$/synchronous_commit = on/' "$pgdata/postgresql.conf"
  as_pg "$PGBIN/pg_ctl" -D "$pgdata" reload >/dev/null 2>&1 || true
fi
if ! as_pg "$PGBIN/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_pg "$PGBIN/pg_ctl" -D "$pgdata" -l "$pgroot/server.log" -w -t 60 start >/dev/null
fi
for db in goalgpt goalgpt_test; do
  if ! as_pg psql -h "$pgdata" -p "$PG_PORT" -U goalgpt -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
    as_pg psql -h "$pgdata" -p "$PG_PORT" -U goalgpt -d postgres -qc "CREATE DATABASE $db" >/dev/null
  fi
done

# --- Redis -----------------------------------------------------------------------------------
redis_dir="$state/redis"; mkdir -p "$redis_dir"
# It holds the password: owner only.
(umask 077; cat > "$redis_dir/redis.conf"; chmod 600 "$redis_dir/redis.conf") <<CONF
bind 127.0.0.1
port $REDIS_PORT
requirepass $REDIS_PASSWORD
daemonize yes
dir $redis_dir
pidfile $redis_dir/redis.pid
logfile $redis_dir/redis.log
save ""
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
CONF
if ! REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server "$redis_dir/redis.conf"
  for _ in $(seq 1 50); do
    REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
fi

# --- MQTT broker (mosquitto; the simulator publishes to it; a test that stops a broker starts its own) --
mqtt_dir="$state/mosquitto"; mkdir -p "$mqtt_dir"
cat > "$mqtt_dir/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
user $(id -un)
pid_file $mqtt_dir/mosquitto.pid
log_dest file $mqtt_dir/mosquitto.log
CONF
mqtt_up() { (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; }
if ! mqtt_up; then
  log "starting mosquitto on 127.0.0.1:$MQTT_PORT"
  mosquitto -c "$mqtt_dir/mosquitto.conf" -d
  for _ in $(seq 1 50); do mqtt_up && break; sleep 0.1; done
fi

# The tests keep their Redis keys (membership, leases, rate limit) in a database of their own, apart
# from the service's (./run.sh), and ./test.sh empties it before each run.
TEST_REDIS_DB=1
# Connection strings hold the passwords: owner only, like the secrets file.
(umask 077; cat > "$state/env"; chmod 600 "$state/env") <<ENV
export ConnectionStrings__Postgres='Host=127.0.0.1;Port=$PG_PORT;Database=goalgpt;Username=goalgpt;Password=$PG_PASSWORD;Maximum Pool Size=40'
export ConnectionStrings__Redis='127.0.0.1:$REDIS_PORT,password=$REDIS_PASSWORD,abortConnect=false'
export GOALGPT_TEST_POSTGRES='Host=127.0.0.1;Port=$PG_PORT;Database=goalgpt_test;Username=goalgpt;Password=$PG_PASSWORD;Maximum Pool Size=40'
export GOALGPT_TEST_REDIS='127.0.0.1:$REDIS_PORT,password=$REDIS_PASSWORD,abortConnect=false,defaultDatabase=$TEST_REDIS_DB'
export GOALGPT_TEST_REDIS_DB='$TEST_REDIS_DB'
export GOALGPT_PGDATA='$pgdata'
export GOALGPT_PGBIN='$PGBIN'
export GOALGPT_REDIS_CONF='$redis_dir/redis.conf'
export GOALGPT_PG_PORT='$PG_PORT'
export GOALGPT_REDIS_PORT='$REDIS_PORT'
export GOALGPT_MQTT_PORT='$MQTT_PORT'
ENV
log "ready: PostgreSQL 127.0.0.1:$PG_PORT, Redis 127.0.0.1:$REDIS_PORT, MQTT 127.0.0.1:$MQTT_PORT (settings in .local/env)"
