# autoreg: the doors are `make run`, `make test`, `make bench`, `make lint`, `make fuzz`.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
PKGS  := ./...
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME ?= 30s

.PHONY: all build run test test-short bench lint fuzz clean

all: build

## build: compile the binaries into ./bin
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

## run: the registrar on its embedded store (./data) with the sample configuration
run: build
	$(BIN)/registrar serve --log-format console

## test: every test (unit, features, fuzz corpora, real binaries against sipp/tshark)
test: build
	AUTOREG_BIN=$(BIN) $(GO) test -count=1 -timeout 20m $(PKGS)

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
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "fuzz: $$pkg does not build" >&2; exit 1; }; \
	  for f in $$(echo "$$list" | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf $(BIN)
