#!/usr/bin/env bash
# scripts/bench campaign-read: requests per second and p99 latency of GET /api/v1/campaigns/:id
# under wrk (64 connections), beside the same PostgreSQL's own single-row read ceiling
# (pgbench -S, 64 clients), with 10 thousand and then 1 million sent emails recorded.
#
# Options (environment): BENCH_SECONDS (default 15), BENCH_CONNECTIONS (default 64).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=postgres.sh
source scripts/lib/postgres.sh

seconds=${BENCH_SECONDS:-15}
conns=${BENCH_CONNECTIONS:-64}
say() { printf '[bench] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { say "wrk is missing: apt-get install wrk"; exit 1; }

cargo build --locked --release -p reachkit-app >&2
bin="$root/target/release/reachkit"

tmp=$(mktemp -d /tmp/reachkit-bench.XXXXXX)
chmod 755 "$tmp"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  pg_stop "$tmp/pg"
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$(pg_free_port)
pg_start "$tmp/pg" "$port" durable
admin="postgres://postgres@127.0.0.1:$port/postgres"
psql_() { "$PGBIN/psql" -q -v ON_ERROR_STOP=1 "$@"; }
psql_ "$admin" -c "CREATE DATABASE reachkit" -c "CREATE DATABASE pgbench"
export DATABASE_URL="postgres://postgres@127.0.0.1:$port/reachkit"
export REACHKIT__LOG__LEVEL=warn
export REACHKIT__DATABASE__MAX_CONNECTIONS=${BENCH_POOL:-16}
# One workspace hammers the API: the per-workspace rate limit would measure itself.
export REACHKIT__HTTP__RATE_LIMIT_PER_SECOND=0
if [ -z "${REACHKIT__SECRETS__KEY:-}" ]; then
  REACHKIT__SECRETS__KEY=$(head -c 32 /dev/urandom | base64)
  export REACHKIT__SECRETS__KEY
fi

"$bin" migrate
ws=$("$bin" workspace create --name bench --json | sed -E 's/.*"id":"([^"]+)".*/\1/')
key=$("$bin" api-key create --workspace "$ws" --name bench --json | sed -E 's/.*"key":"([^"]+)".*/\1/')

api_port=$(pg_free_port)
REACHKIT_LISTEN="127.0.0.1:$api_port" "$bin" serve --api-only >"$tmp/serve.out" 2>"$tmp/serve.err" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening" "$tmp/serve.out" 2>/dev/null && break
  sleep 0.1
done
base="http://127.0.0.1:$api_port/api/v1"
campaign=$(curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"name":"Bench campaign"}' "$base/campaigns" | sed -E 's/^\{"data":\{"id":"([^"]+)".*/\1/')
url="$base/campaigns/$campaign"
curl -sf -H "Authorization: Bearer $key" "$url" >/dev/null

# Records `n` sent emails for the campaign: the counters the API reads, one daily row per day over
# the last 30 days, and, when the engine's sends table exists, the send rows themselves.
record_sends() {
  local n=$1
  psql_ "$DATABASE_URL" <<SQL
UPDATE campaign_stats SET sent = $n, contacted = $n, replies = $n / 20, positive_replies = $n / 50,
       bounced = $n / 100, leads_count = $n, finished_leads = $n / 10
 WHERE campaign_id = '$campaign';
INSERT INTO campaign_daily_stats (campaign_id, day, workspace_id, sent, replies)
SELECT '$campaign', current_date - d, '$ws', $n / 30, $n / 600 FROM generate_series(0, 29) AS d
ON CONFLICT (campaign_id, day) DO UPDATE SET sent = EXCLUDED.sent, replies = EXCLUDED.replies;
UPDATE variants SET sent = $n, replies = $n / 20 WHERE campaign_id = '$campaign';
SQL
  if psql_ "$DATABASE_URL" -tAc "SELECT to_regclass('public.sends') IS NOT NULL" | grep -q t; then
    say "recording $n rows in sends"
    psql_ "$DATABASE_URL" -f scripts/lib/bench-record-sends.sql -v campaign="$campaign" -v n="$n"
  else
    say "no sends table yet (the engine is not built): only counters are recorded"
  fi
}

run_wrk() {
  wrk -t2 -c"$conns" -d"${seconds}s" --latency -H "Authorization: Bearer $key" "$url" >"$tmp/wrk.out"
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.out")
  local errors
  errors=$(grep -E "Non-2xx|Socket errors" "$tmp/wrk.out" || true)
  [ -z "$errors" ] || say "wrk reported: $errors"
  echo "$rps $p99"
}

say "pgbench -S baseline ($conns clients, ${seconds}s)"
"$PGBIN/pgbench" -q -i -s 10 "postgres://postgres@127.0.0.1:$port/pgbench" >/dev/null 2>&1
pg_tps=$("$PGBIN/pgbench" -S -n -c "$conns" -j 2 -T "$seconds" \
  "postgres://postgres@127.0.0.1:$port/pgbench" 2>/dev/null | awk '/^tps/ {print int($3)}')

record_sends 10000
say "wrk GET campaign with 10k sends"
read -r rps_10k p99_10k < <(run_wrk)
record_sends 1000000
say "wrk GET campaign with 1M sends"
read -r rps_1m p99_1m < <(run_wrk)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
cat <<OUT
campaign-read (wrk -t2 -c$conns -d${seconds}s, pgbench -S -c $conns -j 2 -T $seconds, $(nproc) cores)
  pgbench -S:            $pg_tps tps
  GET campaign, 10k:     $rps_10k req/s, p99 $p99_10k  ($(ratio "$rps_10k" "$pg_tps") of pgbench)
  GET campaign, 1M:      $rps_1m req/s, p99 $p99_1m  ($(ratio "$rps_1m" "$pg_tps") of pgbench; $(ratio "$rps_1m" "$rps_10k") of the 10k rate)
OUT
