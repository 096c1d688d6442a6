# smplat — the two commands: `make run` serves, `make test` passes the tests.
.PHONY: run test build generate check lint bench stripe-mock

GO ?= go

run:
	@scripts/run.sh

test:
	@scripts/test.sh

build:
	$(GO) build -o bin/smplat ./cmd/smplat

generate:
	$(GO) generate ./...

lint:
	@test -z "$$(gofmt -l . | grep -v '^\.data/')" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

bench:
	@scripts/bench.sh
