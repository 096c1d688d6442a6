#!/usr/bin/env bash
# bench.sh — `make bench`: the catalog benchmark, end to end (< 10 minutes).
#
# 1. a private PostgreSQL cluster (scripts/pg.sh, with pg_stat_statements when
#    the server has it) unless BENCH_DATABASE_URL is set; removed at the end;
# 2. builds bin/smplat and bin/smplat-bench, migrates, seeds BENCH_PRODUCTS
#    products (default 200, ~70% active) shaped like the seed product;
# 3. the Go benchmarks (resolver path and pricing, -benchmem);
# 4. `smplat serve` in production settings, cold (CATALOG_CACHE=off) and, when
#    the server knows the variable, warm; every answer checked, then wrk (apt
#    package, installed when missing and root) or vegeta for W1, W2, quote
#    and createOrder at 1, 16 and 64 connections; one table.
#
# Knobs: BENCH_DATABASE_URL, BENCH_PRODUCTS, BENCH_DURATION (6s), BENCH_WARMUP
# (2s), BENCH_CONNS (1,16,64), BENCH_WORKLOADS (W1,W2,quote,createOrder),
# BENCH_MODES (auto|cold|warm|cold,warm), BENCH_GO=0 skips the Go benchmarks,
# BENCH_GOBENCH (regexp, default .), BENCH_DRIVER (auto|wrk|vegeta).
set -euo pipefail
cd "$(dirname "$0")/.."
pgpid=0

GO=${GO:-go}
products=${BENCH_PRODUCTS:-200}
start=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smplat-bench.XXXXXX")
chmod 755 "$tmp" # the cluster may run as `postgres`
pgdir=""

cleanup() {
  if [ -n "$pgdir" ]; then scripts/pg.sh stop "$pgdir" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s (%ds)\n' "$*" "$(($(date +%s) - start))"; }

step "load generator"
if ! command -v wrk >/dev/null 2>&1 && ! command -v vegeta >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1; } || true
  fi
  if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk unavailable; installing vegeta with go install"
    $GO install github.com/tsenart/vegeta/v12@v12.12.0
    PATH="$PATH:$($GO env GOPATH)/bin"
  fi
fi
command -v wrk || command -v vegeta

step "build"
$GO build -o bin/smplat ./cmd/smplat
$GO build -o bin/smplat-bench ./cmd/smplat-bench

if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  dsn=$BENCH_DATABASE_URL
  testdsn=${TEST_DATABASE_URL:-$BENCH_DATABASE_URL}
else
  step "private PostgreSQL"
  port=$(bin/smplat-bench freeport)
  pgdir=$tmp/pg
  scripts/pg.sh start "$pgdir" "$port"
  pglib=""
  for d in /usr/lib/postgresql/*/lib; do [ -f "$d/pg_stat_statements.so" ] && pglib=$d; done
  if [ -n "$pglib" ] && ! grep -q pg_stat_statements "$pgdir/postgresql.conf"; then
    # Restart with the extension preloaded: it counts SQL statements per request.
    scripts/pg.sh stop "$pgdir"
    printf "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all\n" >>"$pgdir/postgresql.conf"
    scripts/pg.sh start "$pgdir" "$port"
  fi
  dsn="postgres://smplat:smplat@127.0.0.1:$port/smplat?sslmode=disable"
  pgpid=$(head -1 "$pgdir/postmaster.pid")
  testdsn="postgres://smplat:smplat@127.0.0.1:$port/postgres?sslmode=disable"
fi

step "migrate and seed $products products"
DATABASE_URL=$dsn ENVIRONMENT=development bin/smplat migrate up
bin/smplat-bench seed -n "$products" -database-url "$dsn"

if [ "${BENCH_GO:-1}" != 0 ]; then
  step "Go benchmarks"
  TEST_DATABASE_URL=$testdsn $GO test -run '^$' -bench "${BENCH_GOBENCH:-.}" -benchmem ./graph/ ./store/ |
    { grep -v -e '^--- BENCH' -e 'testdbconf:' || true; }
fi

step "load: smplat serve (production settings)"
bin/smplat-bench run -server bin/smplat -database-url "$dsn" -workdir "$tmp" \
  -duration "${BENCH_DURATION:-6s}" -warmup "${BENCH_WARMUP:-2s}" -conns "${BENCH_CONNS:-1,16,64}" \
  -workloads "${BENCH_WORKLOADS:-W1,W2,quote,createOrder}" -modes "${BENCH_MODES:-auto}" \
  -driver "${BENCH_DRIVER:-auto}" -pg-pid "$pgpid"

step "done"
