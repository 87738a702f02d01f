# autoreg: the doors are `make run`, `make test`, `make bench`, `make lint`, `make fuzz`.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
PKGS  := ./...
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME ?= 30s
FUZZTIMEOUT ?= 1h

.PHONY: all build run test test-short bench lint fuzz clean

all: build

## build: compile the binaries into ./bin
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

## run: the registrar on its embedded store (./data) with the sample configuration
run: build
	$(BIN)/registrar serve --log-format console

# The packages with concurrency (the command side, the read side, the
# stores, the adapters) run under the race detector; the others as they are.
RACE_PKGS := ./internal/... ./adapters/... ./projections/...

## test: every test (unit, features, fuzz corpora, real binaries against sipp/tshark), the concurrent packages under -race
test: build
	AUTOREG_BIN=$(BIN) $(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)
	AUTOREG_BIN=$(BIN) $(GO) test -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v -e '/internal/' -e '/adapters/' -e '/projections$$')

## test-short: the quick unit tests only
test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: Go benchmarks, then the scripts under bench/ that drive the real binaries
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./adapters/eventstore/...
	@for s in bench/*.sh; do [ -x "$$s" ] && BIN=$(BIN) "$$s" || true; done

## lint: go vet and staticcheck (installed through the Go module proxy)
lint:
	$(GO) vet $(PKGS)
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$$($(GO) env GOPATH)/bin/staticcheck $(PKGS)

## fuzz: fuzz every target (each package's Fuzz* functions) for FUZZTIME each
# Go 1.26's fuzz coordinator may end a run with "context deadline exceeded"
# and no failing input when -fuzztime expires mid-execution (golang/go#75804):
# a run fails only when it wrote a failing input or failed otherwise.
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	for pkg in $$($(GO) list $(PKGS)); do \
	  list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "fuzz: $$pkg does not build" >&2; exit 1; }; \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(echo "$$list" | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; \
	    before=$$(ls "$$dir/testdata/fuzz/$$f" 2>/dev/null | wc -l); \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -timeout $(FUZZTIMEOUT) $$pkg 2>&1 | tee $$out; \
	    rc=$${PIPESTATUS[0]}; \
	    if [ $$rc -ne 0 ]; then \
	      after=$$(ls "$$dir/testdata/fuzz/$$f" 2>/dev/null | wc -l); \
	      if [ "$$after" -gt "$$before" ] || ! grep -q 'context deadline exceeded' $$out || grep -q 'Failing input' $$out; then exit $$rc; fi; \
	      echo "fuzz: $$f: the coordinator's own deadline (golang/go#75804), no failing input: not a failure"; \
	    fi; \
	  done; \
	done

clean:
	rm -rf $(BIN)
