# tinytcp — make up runs it, make test tests it.

GO       ?= go
BIN      := bin/tinytcp
# A count, not a duration: with a time budget this short, Go's fuzzer can
# fail with "context deadline exceeded" while it minimises an input.
FUZZTIME ?= 20000x
# The fuzz targets `make test` runs briefly; `make fuzz-long` runs them longer.
FUZZ_TARGETS := ip:FuzzParseIPv4 ip:FuzzParseICMP ip:FuzzICMPQuote ip:FuzzParseUDP tcp:FuzzParseSegment tcp:FuzzParseOptions

.PHONY: all build up test vet unit fuzz fuzz-long conformance lossy bench bench-loss bench-micro docs clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/tinytcp

# Creating a TUN device needs root: sudo when we are not.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
up: build
	$(SUDO) ./$(BIN) up $(ARGS)

# Everything, with the race detector. End-to-end tests (tests/) need root:
# they make their own network namespaces and TUN devices. The lossy-link
# matrix runs on its own after the rest, so its 20 MB transfers do not
# share the two cores with the other end-to-end tests.
test: vet unit lossy fuzz

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 8m -skip '^TestLossy$$' ./...

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$pkg/ || exit 1; \
	done

fuzz-long:
	$(MAKE) fuzz FUZZTIME=5m

# The full lossy-link matrix against the kernel (tests/e2e/lossy_test.go):
# 20 MB each way at 1/5/15% drop, corruption, duplication, reordering, delay,
# a rate limit and a blackout; 3 to 4 minutes with the race detector.
# `go test ./tests/e2e` without TINYTCP_LOSSY=full runs a 2 MB subset.
# Needs root.
lossy:
	TINYTCP_LOSSY=full $(GO) test -race -count=1 -timeout 20m -run '^TestLossy$$' -v ./tests/e2e

# Every scenario on tinytcp, gVisor and the Linux kernel, then the RFC 9293
# requirement table and a summary line. Needs root (the Linux backend makes
# a network namespace and a TUN device).
conformance:
	$(GO) test -c -o bin/conformance.test ./tests/conformance
	cd tests/conformance && ../../bin/conformance.test -test.run '^TestConformance$$' -report

# The same workloads against tinytcp, gVisor's netstack and the kernel
# (bulk download and upload, 1 and 4 connections; 1-byte request/response;
# connection rate; 10,000 idle connections; HTTP through curl), each
# server in a fresh network namespace behind its own TUN device, plus the
# raw TUN packet rate (tests/bench): speed is reported, never asserted;
# `make test` only compiles it. Needs root. Flags go in BENCH_ARGS, e.g.
# BENCH_ARGS='-bulk-mb 300 -reps 3 -md bench.md' (see docs/benchmarks.md).
bench:
	$(GO) test -c -o bin/bench.test ./tests/bench
	$(SUDO) ./bin/bench.test -test.run '^TestPerfBench$$' -test.timeout 0 -perf $(BENCH_ARGS)

# Goodput under each impairment profile, tinytcp and gVisor side by side
# (tests/bench): a benchmark that reports speed and never asserts it; `make
# test` only compiles it. Needs root. Flags go in BENCH_ARGS, e.g.
# BENCH_ARGS='-mb 5 -reps 3 -md bench.md' (see docs/benchmarks.md).
bench-loss:
	$(GO) test -c -o bin/bench.test ./tests/bench
	$(SUDO) ./bin/bench.test -test.run '^TestLossBench$$' -test.timeout 0 -loss $(BENCH_ARGS)

# Micro-benchmarks of the hot paths, no device and no root: checksums,
# header parse and build, a segment in and out of an established TCB, and
# the stack over the in-memory pipe (docs/benchmarks.md). Reported, never
# asserted; `make test` only asserts that the data path does not allocate.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./ip ./tcp ./stack

# The book (docs/book): run every transcript generator against the kernel
# and rewrite the chapters' transcripts (tests/e2e/book_test.go). `make
# test` checks that every file and function a chapter names exists, and
# that every transcript has a generator. Needs root.
docs:
	$(GO) test -c -o bin/e2e.test ./tests/e2e
	cd tests/e2e && $(SUDO) ../../bin/e2e.test -test.run '^TestBookRegenerate$$' -test.v -update-book

clean:
	rm -rf bin
