#!/usr/bin/env bash
# make run: serve smplat on :8000 with the playground. When DATABASE_URL is
# unset and nothing answers at the default DSN, a private Postgres cluster is
# started under .data/ from the machine's PostgreSQL binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

go build -o bin/smplat ./cmd/smplat

if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL="postgres://smplat:smplat@localhost:5432/smplat?sslmode=disable"
  if ! pg_isready -q -h localhost -p 5432 >/dev/null 2>&1; then
    echo "run: no Postgres at localhost:5432; starting a private cluster in .data/pg" >&2
    scripts/pg.sh start .data/pg 5432
  fi
fi

bin/smplat migrate up
bin/smplat seed --slug instagram-growth
echo "run: serving on ${HTTP_ADDR:-:8000} — GraphQL at /graphql, playground at /playground" >&2
exec bin/smplat serve
