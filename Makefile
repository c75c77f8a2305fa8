# Tracegate: `make run` starts a gateway on a local PostgreSQL, `make test`
# runs every test. Both install what is missing first (scripts/install-deps).
SHELL := /bin/bash
.DEFAULT_GOAL := run

PG_DIR  ?= .data/pg
PG_PORT ?= 55432
DSN     := host=127.0.0.1 port=$(PG_PORT) user=postgres dbname=tracegate
CONFIG  ?= deploy/examples/local.yaml

.PHONY: deps db db-stop build run test validate gen-proto gen-web bench clean fuzz

deps:
	@scripts/install-deps

db: deps
	@scripts/pg start $(PG_DIR) $(PG_PORT)

db-stop:
	@scripts/pg stop $(PG_DIR)

build: deps
	swift build -c release --product tracegate

run: db build
	@scripts/banner "$(DSN)" "$(CONFIG)"
	TRACEGATE_DSN="$(DSN)" .build/release/tracegate run --config $(CONFIG)

validate: build
	TRACEGATE_DSN="$(DSN)" .build/release/tracegate validate --config $(CONFIG)

test: deps
	@scripts/test

# libFuzzer runs of the protobuf and JSON decoders (FUZZ_SECONDS each).
FUZZ_SECONDS ?= 60
fuzz: deps
	@scripts/fuzz $(FUZZ_SECONDS)

gen-proto: deps
	scripts/gen-proto

# The web UI's files (web/) embedded in the binary as
# Sources/TracegateQuery/Web/WebAssets.swift; commit the result.
gen-web:
	scripts/gen-web-assets

clean:
	rm -rf .build

# Benchmarks: standard scenarios, report in bench/results/latest.md.
bench: deps
	swift build -c release --product tracegate
	swift build -c release --product tracegate-bench
	.venv/bin/python bench/run.py
