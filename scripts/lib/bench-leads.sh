#!/usr/bin/env bash
# scripts/bench leads: leads per second of bulk creation, 100,000 leads (release build, a
# durable PostgreSQL started for the run), two ways into two fresh campaigns of one workspace:
#   a) cli: `reachkit leads import --campaign ID FILE.csv` (CSV streamed in batches of 1,000,
#      each batch one transaction), timed from the command's start to its exit;
#   b) api: `reachkit serve --api-only` receiving the same leads as 100 bodies of 1,000 on
#      POST /api/v1/campaigns/:id/leads/bulk from BENCH_CLIENTS curl clients (default 1).
# Each lead: email, first and last name, and three variables (company, city, title). The counts
# (created, campaign leads_count) are checked after each run.
#
# Options (environment): BENCH_LEADS (100000), BENCH_CLIENTS (1), BENCH_POOL (16).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=postgres.sh
source scripts/lib/postgres.sh

n=${BENCH_LEADS:-100000}
clients=${BENCH_CLIENTS:-1}
say() { printf '[bench] %s\n' "$*" >&2; }
command -v curl >/dev/null || { say "curl is missing"; exit 1; }

cargo build --locked --release -p reachkit-app >&2
bin="$root/target/release/reachkit"

tmp=$(mktemp -d /tmp/reachkit-bench-leads.XXXXXX)
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
psql_ "$admin" -c "CREATE DATABASE reachkit"
export DATABASE_URL="postgres://postgres@127.0.0.1:$port/reachkit"
export REACHKIT__LOG__LEVEL=warn
export REACHKIT__DATABASE__MAX_CONNECTIONS=${BENCH_POOL:-16}
REACHKIT__SECRETS__KEY=$(head -c 32 /dev/urandom | base64)
export REACHKIT__SECRETS__KEY

"$bin" migrate >/dev/null
ws=$("$bin" workspace create --name bench --json | sed -E 's/.*"id":"([^"]+)".*/\1/')
key=$("$bin" api-key create --workspace "$ws" --name bench --json | sed -E 's/.*"key":"([^"]+)".*/\1/')
campaign() {
  local id
  id=$(cat /proc/sys/kernel/random/uuid)
  psql_ "$DATABASE_URL" -c "INSERT INTO campaigns (id, workspace_id, name, schedule_days, created_at, updated_at)
    VALUES ('$id', '$ws', '$1', '{}'::jsonb, now(), now())"
  echo "$id"
}
cli_campaign=$(campaign cli)
api_campaign=$(campaign api)

# The leads: a CSV for the CLI, and the same rows as JSON bodies of 1,000 for the API.
say "generating $n leads"
awk -v n="$n" 'BEGIN {
  print "Email,First Name,Last Name,Company,City,Title"
  for (i = 1; i <= n; i++) printf "lead%d@prospect%d.test,Jane%d,Doe,Company %d,Lyon,VP Sales\n", i, i % 5000, i, i
}' >"$tmp/leads.csv"
mkdir "$tmp/bodies"
awk -F, -v dir="$tmp/bodies" 'BEGIN { cur = -1 } NR > 1 {
  b = int((NR - 2) / 1000); f = sprintf("%s/%05d.json", dir, b)
  if (b != cur) { if (cur >= 0) { print "]}" > prev; close(prev) }; cur = b; prev = f; printf "{\"leads\":[" > f; sep = "" }
  printf "%s{\"email\":\"%s\",\"first_name\":\"%s\",\"last_name\":\"%s\",\"variables\":{\"company\":\"%s\",\"city\":\"%s\",\"title\":\"%s\"}}", sep, $1, $2, $3, $4, $5, $6 > f
  sep = ","
} END { print "]}" > prev; close(prev) }' "$tmp/leads.csv"

now_ms() { date +%s%3N; }
rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.0f", n * 1000 / ms }'; }
check() {
  local count
  count=$("$PGBIN/psql" -tAc "SELECT leads_count FROM campaign_stats WHERE campaign_id = '$1'" "$DATABASE_URL")
  [ "$count" = "$n" ] || { say "error: leads_count is $count, expected $n"; exit 1; }
  count=$("$PGBIN/psql" -tAc "SELECT count(*) FROM leads WHERE campaign_id = '$1'" "$DATABASE_URL")
  [ "$count" = "$n" ] || { say "error: $count leads stored, expected $n"; exit 1; }
}

say "cli: reachkit leads import, $n leads"
start=$(now_ms)
"$bin" leads import --workspace "$ws" --campaign "$cli_campaign" --json "$tmp/leads.csv" >"$tmp/cli.json"
end=$(now_ms)
cli_ms=$((end - start))
grep -q "\"created\":$n" "$tmp/cli.json" || { say "error: $(cat "$tmp/cli.json")"; exit 1; }
check "$cli_campaign"

api_port=$(pg_free_port)
REACHKIT_LISTEN="127.0.0.1:$api_port" "$bin" serve --api-only >"$tmp/serve.out" 2>"$tmp/serve.err" &
server_pid=$!
for _ in $(seq 1 100); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$tmp/serve.out" || { say "the server did not start: $(tail -n 5 "$tmp/serve.err")"; exit 1; }
url="http://127.0.0.1:$api_port/api/v1/campaigns/$api_campaign/leads/bulk"
say "api: POST .../leads/bulk, $n leads in bodies of 1,000, $clients client(s)"
start=$(now_ms)
find "$tmp/bodies" -name '*.json' | sort | xargs -P "$clients" -I{} \
  curl -sS -f -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data-binary @{} "$url" || { say "a bulk request failed: $(tail -n 5 "$tmp/serve.err")"; exit 1; }
end=$(now_ms)
api_ms=$((end - start))
check "$api_campaign"

cat <<OUT
leads ($n leads, $(nproc) cores, durable PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'))
  cli: $(rate "$n" "$cli_ms") leads/s (${cli_ms} ms)
  api: $(rate "$n" "$api_ms") leads/s (${api_ms} ms, $clients client(s))
OUT
