# shellcheck shell=bash
# PostgreSQL helpers shared by scripts/run and scripts/test. Source it; it defines functions only.
#
#   pg_find_bin            sets PGBIN to a directory holding initdb/pg_ctl/postgres (installs the
#                          server with apt-get when it can, else prints the exact command and fails)
#   pg_free_port           prints a free loopback TCP port
#   pg_start DIR PORT MODE initialises DIR if needed and starts a server on 127.0.0.1:PORT;
#                          MODE is "durable" (scripts/run) or "throwaway" (tests: fsync off)
#   pg_stop DIR            stops the server of DIR if it runs

pg_log() { printf '[postgres] %s\n' "$*" >&2; }

pg_find_bin() {
  local candidate
  if [ -n "${PGBIN:-}" ] && [ -x "$PGBIN/initdb" ]; then return 0; fi
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then PGBIN=$candidate; return 0; fi
  done
  if command -v pg_config >/dev/null 2>&1; then
    candidate=$(pg_config --bindir)
    if [ -x "$candidate/initdb" ]; then PGBIN=$candidate; return 0; fi
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    pg_log "no PostgreSQL server binaries found: installing Debian's postgresql package"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || return 1
    pg_find_bin
    return $?
  fi
  pg_log "no PostgreSQL server binaries found. Install them, for example:"
  pg_log "  sudo apt-get install postgresql        (Debian, Ubuntu)"
  pg_log "  sudo dnf install postgresql-server     (Fedora)"
  pg_log "  brew install postgresql@15             (macOS)"
  pg_log "or set DATABASE_URL to a server you already have."
  return 1
}

pg_free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# Runs a PostgreSQL binary as the right user: initdb refuses to run as root.
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_start() {
  local dir=$1 port=$2 mode=${3:-durable}
  pg_find_bin || return 1
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
  fi
  if [ ! -s "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
    chmod 700 "$dir"
    pg_as_owner "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$dir.initdb.log" 2>&1 || { cat "$dir.initdb.log" >&2; return 1; }
  fi
  local opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200"
  if [ "$mode" = throwaway ]; then
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  pg_as_owner "$PGBIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null ||
    { tail -n 20 "$dir/server.log" >&2; return 1; }
}

pg_stop() {
  local dir=$1
  [ -s "$dir/postmaster.pid" ] || return 0
  pg_find_bin || return 0
  pg_as_owner "$PGBIN/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# A directory the postgres user can reach: every parent must be traversable by it.
pg_reachable_dir() {
  local dir=$1
  if [ "$(id -u)" != 0 ]; then return 0; fi
  mkdir -p "$(dirname "$dir")"
  runuser -u postgres -- test -x "$(dirname "$dir")" 2>/dev/null
}
