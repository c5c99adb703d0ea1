#!/usr/bin/env bash
# Proves that scripts/deps.sh sets up from any directory, as root or not: copies it into fresh
# `mktemp -d` folders (closed to every other user, as a root's clone under /root or /tmp is), brings
# the dependencies up there on free ports (as root under umask 077; then, where the `nobody` user
# exists, as that user), checks that each answers and that the secrets are private, runs it again
# (idempotent), stops them and removes what it made. Run by .ci/run before the tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[setup-check] %s\n' "$*"; }
fail() { log "FAILED: $*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for p in $(shuf -i 20000-29999 -n 100); do
    if ! port_open "$p" && [[ " ${taken[*]} " != *" $p "* ]]; then taken+=("$p"); echo "$p"; return; fi
  done
  fail "no free port"
}
taken=()
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
  local dir
  for dir in "${made[@]}"; do
    if [ -f "$dir/ports" ]; then
      # shellcheck disable=SC2046 # one VAR=value per word
      as_owner "$dir" env $(cat "$dir/ports") bash "$dir/p/scripts/deps.sh" stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir" "$(fallback_of "$dir/p")"
  done
}
made=()
trap cleanup EXIT
fallback_of() { printf '/var/tmp/goalgpt-%s' "$(printf '%s' "$1" | md5sum | cut -c1-12)"; }
as_owner() { local dir=$1; shift; if [ "$(stat -c %U "$dir")" = "$(id -un)" ]; then "$@"; else runuser -u "$(stat -c %U "$dir")" -- "$@"; fi; }

# One pass: deps.sh copied into a fresh folder owned by $1 (a user name), brought up twice, checked, stopped.
check_as() {
  local user=$1 umask_value=$2 dir project ports
  dir="$(mktemp -d)"; made+=("$dir")
  project="$dir/p"; mkdir -p "$project/scripts"; cp "$root/scripts/deps.sh" "$project/scripts/"
  if [ "$user" != "$(id -un)" ]; then chown -R "$user:" "$dir"; fi
  ports=(GOALGPT_PG_PORT="$(free_port)" GOALGPT_REDIS_PORT="$(free_port)" GOALGPT_MQTT_PORT="$(free_port)" GOALGPT_SKIP_OPS_TOOLS=1)
  printf '%s\n' "${ports[@]}" > "$dir/ports"
  log "as $user, umask $umask_value, in $project (mode $(stat -c %a "$dir")): ${ports[*]:0:3}"
  for round in 1 2; do
    (cd / && as_owner "$dir" env "${ports[@]}" bash -c "umask $umask_value && exec bash '$project/scripts/deps.sh'") > "$dir/deps$round.log" 2>&1 \
      || { tail -20 "$dir/deps$round.log"; fail "deps.sh (round $round) as $user"; }
  done

  # Each answers, with the generated passwords (taken from the environment, never a command line).
  local pg_port=${ports[0]#*=} redis_port=${ports[1]#*=} mqtt_port=${ports[2]#*=}
  # shellcheck disable=SC1091
  (. "$project/.local/secrets"
   [ "$(PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$pg_port" -U goalgpt -d goalgpt_test -tAc 'SELECT 42')" = 42 ] || fail "PostgreSQL does not answer"
   [ "$(REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$redis_port" ping)" = PONG ] || fail "Redis does not answer"
   ! REDISCLI_AUTH=wrong redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG || fail "Redis answers a wrong password")
  port_open "$mqtt_port" || fail "mosquitto does not accept connections"
  for f in secrets env redis/redis.conf; do
    [ "$(stat -c %a "$project/.local/$f")" = 600 ] || fail ".local/$f is $(stat -c %a "$project/.local/$f"), not 600"
  done
  if [ "$(id -u "$user")" -eq 0 ]; then
    local fallback; fallback="$(fallback_of "$project")"
    [ -f "$fallback/pg/data/PG_VERSION" ] || fail "no cluster under $fallback although postgres cannot enter $dir"
    [ "$(stat -c %a "$fallback")" = 755 ] || fail "$fallback is $(stat -c %a "$fallback"), not 755"
  fi

  as_owner "$dir" env "${ports[@]}" bash "$project/scripts/deps.sh" stop > "$dir/stop.log" 2>&1 || { cat "$dir/stop.log"; fail "deps.sh stop"; }
  for p in "$pg_port" "$redis_port" "$mqtt_port"; do
    for _ in $(seq 1 50); do port_open "$p" || break; sleep 0.1; done
    ! port_open "$p" || fail "port $p still open after deps.sh stop"
  done
  log "as $user: PostgreSQL, Redis and mosquitto came up, answered and stopped"
}

check_as "$(id -un)" 077
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then check_as nobody 022; fi
log "ok"
