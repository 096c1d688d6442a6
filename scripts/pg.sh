#!/usr/bin/env bash
# pg.sh start DIR PORT  — create (if needed) and start a private PostgreSQL cluster
#                         in DIR on 127.0.0.1:PORT with a superuser role and
#                         database `smplat` (password `smplat`).
# pg.sh stop DIR        — stop it.
# Uses the machine's PostgreSQL binaries; as root, the cluster runs as `postgres`.
set -euo pipefail

cmd=${1:?usage: pg.sh start|stop DIR [PORT]}
dir=${2:?usage: pg.sh start|stop DIR [PORT]}
port=${3:-5432}

bindir=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/pg_ctl" ] && bindir=$d
done
if [ -z "$bindir" ] && command -v pg_ctl >/dev/null 2>&1; then
  bindir=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
fi
if [ -z "$bindir" ]; then
  cat >&2 <<'MSG'
No PostgreSQL server binaries were found (pg_ctl, initdb).
Get a database one of two ways:
  1. install PostgreSQL:        apt-get install postgresql   (then run this again)
  2. run it in Docker:          docker compose up postgres -d   (then set DATABASE_URL)
MSG
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; chmod 700 "$dir"; fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    pwfile=$(mktemp)
    echo smplat >"$pwfile"
    chmod 644 "$pwfile"
    as_owner "$bindir/initdb" -D "$dir" -U smplat --pwfile="$pwfile" -A scram-sha-256 --auth-local=trust \
      -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  fi
  if ! as_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
  fi
  if ! as_owner "$bindir/psql" -h "$dir" -p "$port" -U smplat -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'smplat'" | grep -q 1; then
    as_owner "$bindir/createdb" -h "$dir" -p "$port" -U smplat smplat
  fi
  ;;
stop)
  if [ -f "$dir/PG_VERSION" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
  fi
  ;;
*)
  echo "unknown command $cmd" >&2
  exit 2
  ;;
esac
