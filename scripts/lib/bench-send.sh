#!/usr/bin/env bash
# scripts/bench send: the whole sending pipeline (plan, claim, render, SMTP, record) of one
# `reachkit worker` (release build) draining 20,000 due leads of one campaign over 200 inboxes,
# beside Postfix's smtp-source pushing as many messages of the same size through the same front
# in the same run. Two fronts:
#   a) direct: inboxes without SMTP credentials straight into Postfix's smtp-sink;
#   b) postfix: inboxes that log in (AUTH PLAIN, checked by Dovecot) to a real Postfix smtpd
#      (scripts/mailstack with MAILSTACK_RELAY_TO) that relays every message to smtp-sink;
#      smtp-source has no AUTH, so it goes through the same Postfix on its port that trusts
#      loopback (same queue, same relay path, no SASL round trip).
# Rates count messages accepted by the front (250 after DATA), the time from the worker's start
# (or smtp-source's) to the last acceptance.
#
# Options (environment): BENCH_EMAILS (20000), BENCH_INBOXES (200), BENCH_MODES ("direct postfix"),
# BENCH_CONCURRENCY (32), BENCH_BATCH (2000), BENCH_TICK_MS (10), BENCH_POOL (40), BENCH_SIZE
# (2000), BENCH_LOG_LEVEL (warn) and BENCH_LOG_DIR (keep the worker's log there).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=postgres.sh
source scripts/lib/postgres.sh

emails=${BENCH_EMAILS:-20000}
inboxes=${BENCH_INBOXES:-200}
modes=${BENCH_MODES:-direct postfix}
say() { printf '[bench] %s\n' "$*" >&2; }
for tool in /usr/sbin/smtp-sink /usr/sbin/smtp-source curl; do
  command -v "$tool" >/dev/null || { say "$tool is missing (the postfix package has smtp-sink and smtp-source)"; exit 1; }
done

cargo build --locked --release -p reachkit-app >&2
bin="$root/target/release/reachkit"

tmp=$(mktemp -d /tmp/reachkit-bench-send.XXXXXX)
chmod 755 "$tmp"
pids=()
stack=""
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "$stack" ]; then REACHKIT_MAILSTACK_DIR=$stack scripts/mailstack stop >/dev/null 2>&1 || true; fi
  pg_stop "$tmp/pg"
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

pg_port=$(pg_free_port)
pg_start "$tmp/pg" "$pg_port" durable
admin="postgres://postgres@127.0.0.1:$pg_port/postgres"
psql_() { "$PGBIN/psql" -q -v ON_ERROR_STOP=1 "$@"; }
export REACHKIT__LOG__LEVEL=${BENCH_LOG_LEVEL:-warn}
REACHKIT__SECRETS__KEY=$(head -c 32 /dev/urandom | base64)
export REACHKIT__SECRETS__KEY

now_ms() { date +%s%3N; }
rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.0f", n * 1000 / ms }'; }

# smtp-sink on a free loopback port: accepts everything, keeps nothing.
sink_port=$(pg_free_port)
/usr/sbin/smtp-sink -u postfix 127.0.0.1:"$sink_port" 1000 >"$tmp/sink.log" 2>&1 &
pids+=($!)

# The campaign: one step, an HTML + text body of a typical cold email, unsubscribe link on.
subject='Quick question about {{company|your team}}, {{first_name}}'
html='<p>Hi {{first_name}},</p><p>I noticed {{company|your team}} is hiring engineers in {{city|your area}}. We help teams like yours cut the time to a first reply in half, without adding headcount: one inbox, your existing tools, and a report every Monday.</p><p>Would a 15-minute call next week be useful? If not, no worries at all.</p><p>Best,<br>Ann</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>'
text='Hi {{first_name}},

I noticed {{company|your team}} is hiring engineers in {{city|your area}}. We help teams like yours cut the time to a first reply in half, without adding headcount: one inbox, your existing tools, and a report every Monday.

Would a 15-minute call next week be useful? If not, no worries at all.

Best,
Ann

Unsubscribe: {{unsubscribe_url}}'
# The size of the message the engine composes for these templates (headers included), measured
# from smtp-sink dumps (-d); smtp-source sends messages of this size.
size=${BENCH_SIZE:-2000}

# run_engine MODE HOST PORT SECURITY: a fresh database, 200 inboxes, 20,000 leads; prints the ms.
run_engine() {
  local mode=$1 host=$2 port=$3 db="bench_$1"
  psql_ "$admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  local url="postgres://postgres@127.0.0.1:$pg_port/$db"
  DATABASE_URL=$url "$bin" migrate >/dev/null
  local ws key api_port serve_pid base
  ws=$(DATABASE_URL=$url "$bin" workspace create --name bench --json | sed -E 's/.*"id":"([^"]+)".*/\1/')
  key=$(DATABASE_URL=$url "$bin" api-key create --workspace "$ws" --name bench --json | sed -E 's/.*"key":"([^"]+)".*/\1/')
  api_port=$(pg_free_port)
  DATABASE_URL=$url REACHKIT_LISTEN="127.0.0.1:$api_port" "$bin" serve --api-only >"$tmp/serve.out" 2>"$tmp/serve.err" &
  serve_pid=$!
  for _ in $(seq 1 100); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
  base="http://127.0.0.1:$api_port/api/v1"
  # Inboxes through the API (it seals the SMTP passwords); the connection check is skipped below.
  local i smtp users=(alice bob carol dave erin)
  for i in $(seq 1 "$inboxes"); do
    if [ "$mode" = direct ]; then
      smtp="{\"host\":\"$host\",\"port\":$port,\"security\":\"none\"}"
    else
      local u=${users[$((i % 5))]}
      smtp="{\"host\":\"$host\",\"port\":$port,\"security\":\"none\",\"username\":\"$u@reachkit.test\",\"password\":\"$u-pass\"}"
    fi
    curl -sf -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d "{\"email\":\"sender$i@reachkit.test\",\"first_name\":\"Ann\",\"last_name\":\"Lee\",\"smtp\":$smtp,\"imap\":{\"host\":\"127.0.0.1\",\"port\":143,\"security\":\"none\",\"username\":\"x\",\"password\":\"x\"}}" \
      "$base/inboxes"
  done
  kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
  local per_inbox=$(((emails + inboxes - 1) / inboxes))
  psql_ "$url" -v subject="$subject" -v html="$html" -v text="$text" <<SQL
UPDATE inboxes SET connection_status = 'connected', daily_campaign_limit = $per_inbox;
INSERT INTO campaigns (id, workspace_id, name, status, daily_limit, timezone, window_start,
  window_end, schedule_days, unsubscribe_option, created_at, updated_at)
VALUES ('00000000-0000-7000-8000-000000000001', '$ws', 'bench', 'active', $emails,
  CASE WHEN extract(hour FROM now() AT TIME ZONE 'UTC') >= 22 THEN 'Asia/Tokyo' ELSE 'Europe/London' END,
  0, 1410, (SELECT jsonb_object_agg(d, '{"enabled": true, "start": null, "end": null}'::jsonb)
     FROM unnest(ARRAY['monday','tuesday','wednesday','thursday','friday','saturday','sunday']) d),
  true, now(), now());
INSERT INTO campaign_stats (campaign_id, workspace_id) VALUES ('00000000-0000-7000-8000-000000000001', '$ws');
INSERT INTO sequences (id, workspace_id, campaign_id, step, delay_days, created_at, updated_at)
VALUES ('00000000-0000-7000-8000-000000000002', '$ws', '00000000-0000-7000-8000-000000000001', 1, 0, now(), now());
INSERT INTO variants (id, workspace_id, campaign_id, sequence_id, letter, ordinal, subject,
  body_html, body_text, created_at, updated_at)
VALUES ('00000000-0000-7000-8000-000000000003', '$ws', '00000000-0000-7000-8000-000000000001',
  '00000000-0000-7000-8000-000000000002', 'A', 0, :'subject', :'html', :'text', now(), now());
INSERT INTO campaign_inboxes (campaign_id, inbox_id, workspace_id, created_at)
SELECT '00000000-0000-7000-8000-000000000001', id, '$ws', now() FROM inboxes;
INSERT INTO leads (id, workspace_id, campaign_id, email, email_domain, first_name, last_name,
  provider, variables, created_at, updated_at)
SELECT gen_random_uuid(), '$ws', '00000000-0000-7000-8000-000000000001',
  'lead' || g || '@prospects.test', 'prospects.test', 'Jane', 'Doe', 'other',
  jsonb_build_object('company', 'Company ' || g, 'city', 'Lyon'),
  now() - interval '1 hour', now() - interval '1 hour'
FROM generate_series(1, $emails) AS g;
UPDATE campaign_stats SET leads_count = $emails;
VACUUM ANALYZE;
SQL
  local start end worker_pid
  start=$(now_ms)
  DATABASE_URL=$url \
  REACHKIT__DATABASE__MAX_CONNECTIONS=${BENCH_POOL:-40} \
  REACHKIT__ENGINE__TICK_MS=${BENCH_TICK_MS:-10} \
  REACHKIT__ENGINE__MIN_GAP_SECONDS=0 REACHKIT__ENGINE__MAX_JITTER_SECONDS=0 \
  REACHKIT__ENGINE__CONCURRENCY=${BENCH_CONCURRENCY:-32} \
  REACHKIT__ENGINE__BATCH_SIZE=${BENCH_BATCH:-2000} \
  REACHKIT__ENGINE__LEASE_SECONDS=600 \
  REACHKIT__ENGINE__CONNECTION_CHECK_SECONDS=3600 \
    "$bin" worker >"$tmp/worker-$mode.out" 2>"$tmp/worker-$mode.err" &
  worker_pid=$!
  pids+=("$worker_pid")
  local done_n=0
  while :; do
    done_n=$("$PGBIN/psql" -tAc "SELECT sent + unknown + bounced FROM campaign_stats" "$url")
    [ "$done_n" -ge "$emails" ] && break
    kill -0 "$worker_pid" 2>/dev/null || { say "the worker died: $(tail -n 5 "$tmp/worker-$mode.err")"; exit 1; }
    sleep 0.1
  done
  end=$(now_ms)
  kill "$worker_pid"; wait "$worker_pid" 2>/dev/null || true
  if [ -n "${BENCH_LOG_DIR:-}" ]; then cp "$tmp/worker-$mode.err" "$BENCH_LOG_DIR/"; fi
  local sent
  sent=$("$PGBIN/psql" -tAc "SELECT sent FROM campaign_stats" "$url")
  [ "$sent" = "$emails" ] || say "warning: $sent of $emails sent ($(grep -c . "$tmp/worker-$mode.err") log lines in the worker's stderr)"
  echo $((end - start))
}

# run_source HOST PORT: smtp-source pushing as many messages of the same size, 20 sessions.
run_source() {
  local start end
  start=$(now_ms)
  /usr/sbin/smtp-source -s 20 -m "$emails" -l "$size" -f sender@reachkit.test -t lead@prospects.test "$1:$2" >&2
  end=$(now_ms)
  echo $((end - start))
}

# wait until the bench Postfix's queue is empty (everything relayed to smtp-sink)
drain_postfix() {
  for _ in $(seq 1 600); do
    postqueue -c "$stack/etc/postfix" -p 2>/dev/null | grep -q "Mail queue is empty" && return 0
    sleep 0.2
  done
  say "warning: the bench Postfix queue did not drain"
}

results=""
for mode in $modes; do
  case $mode in
    direct)
      say "direct: engine -> smtp-sink (no AUTH), $emails emails, $inboxes inboxes"
      engine_ms=$(run_engine direct 127.0.0.1 "$sink_port")
      say "direct: smtp-source -> smtp-sink"
      source_ms=$(run_source 127.0.0.1 "$sink_port")
      ;;
    postfix)
      stack="$tmp/mailstack"
      mkdir -p "$stack"
      chmod 755 "$stack"
      # (a second try when a chosen port was taken meanwhile)
      MAILSTACK_RELAY_TO="127.0.0.1:$sink_port" REACHKIT_MAILSTACK_DIR=$stack scripts/mailstack start >"$tmp/mailstack.log" 2>&1 ||
        MAILSTACK_RELAY_TO="127.0.0.1:$sink_port" REACHKIT_MAILSTACK_DIR=$stack scripts/mailstack start >>"$tmp/mailstack.log" 2>&1 ||
        { say "the bench Postfix did not start: $(tail -n 5 "$tmp/mailstack.log")"; exit 1; }
      set -a
      # shellcheck source=/dev/null
      . "$stack/env"
      set +a
      say "postfix: engine -> Postfix submission (AUTH via Dovecot) -> smtp-sink, $emails emails"
      engine_ms=$(run_engine postfix 127.0.0.1 "$REACHKIT_MAILSTACK_SMTP_PORT")
      drain_postfix
      say "postfix: smtp-source -> Postfix (loopback, no AUTH) -> smtp-sink"
      source_ms=$(run_source 127.0.0.1 "$REACHKIT_MAILSTACK_SMTP_PLAIN_PORT")
      drain_postfix
      ;;
    *) say "unknown mode $mode (direct, postfix)"; exit 2 ;;
  esac
  e=$(rate "$emails" "$engine_ms")
  s=$(rate "$emails" "$source_ms")
  results="$results
  $mode: engine $e emails/s (${engine_ms} ms), smtp-source $s emails/s (${source_ms} ms), ratio $(awk -v a="$e" -v b="$s" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
done

cat <<OUT
send ($emails emails, $inboxes inboxes, $size-byte messages, concurrency ${BENCH_CONCURRENCY:-32}, batch ${BENCH_BATCH:-2000}, tick ${BENCH_TICK_MS:-10} ms, $(nproc) cores)$results
OUT
