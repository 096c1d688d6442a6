#!/usr/bin/env bash
# make test: lint, check that generated code is current, and run every test
# with -race against a real Postgres (a throwaway cluster unless
# TEST_DATABASE_URL is set) and stripe-mock (unless STRIPE_MOCK_URL is set).
set -euo pipefail
cd "$(dirname "$0")/.."

STRIPE_MOCK_VERSION=v0.203.0
cleanup=()
trap 'for c in "${cleanup[@]}"; do eval "$c"; done' EXIT

# free_port prints a port nothing listens on (bash only: no python or curl).
free_port() {
  local p
  while :; do
    p=$(( (RANDOM % 20000) + 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/smplat-test-pg.XXXXXX)
  pgport=$(free_port)
  scripts/pg.sh start "$pgdir" "$pgport"
  cleanup+=("scripts/pg.sh stop '$pgdir'; rm -rf '$pgdir'")
  export TEST_DATABASE_URL="postgres://smplat:smplat@127.0.0.1:$pgport/postgres?sslmode=disable"
  echo "test: throwaway Postgres on 127.0.0.1:$pgport"
fi

if [ -z "${STRIPE_MOCK_URL:-}" ]; then
  gobin=$(go env GOPATH)/bin
  if [ ! -x "$gobin/stripe-mock" ]; then
    (cd /tmp && GOFLAGS= go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION")
  fi
  smport=$(free_port)
  smlog=$(mktemp /tmp/smplat-stripe-mock.XXXXXX.log)
  "$gobin/stripe-mock" -http-port "$smport" -https-port 0 >"$smlog" 2>&1 &
  smpid=$!
  cleanup+=("kill $smpid 2>/dev/null || true; rm -f '$smlog'")
  export STRIPE_MOCK_URL="http://127.0.0.1:$smport"
  up=""
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$smport") 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  if [ -z "$up" ]; then
    echo "test: stripe-mock did not start on $STRIPE_MOCK_URL:" >&2
    cat "$smlog" >&2
    exit 1
  fi
  echo "test: stripe-mock $STRIPE_MOCK_VERSION on $STRIPE_MOCK_URL"
fi

echo "test: lint (gofmt, go vet, staticcheck)"
make -s lint

echo "test: go generate leaves no diff"
gen_files="graph/generated.go graph/model/models_gen.go graph/schema.resolvers.go go.mod go.sum"
before=$(cat $gen_files | sha256sum)
go generate ./...
after=$(cat $gen_files | sha256sum)
if [ "$before" != "$after" ]; then
  echo "go generate changed generated code: run 'make generate' and commit the result" >&2
  git --no-pager diff --stat -- $gen_files >&2 || true
  exit 1
fi

echo "test: go test -race ./..."
go test -race -count=1 -timeout 20m ./...
