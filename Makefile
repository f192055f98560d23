# ffdelay: see, promote and diagnose FlowFabric's delayed executions.
GO      ?= go
# go.mod names the patched toolchain (govulncheck finds the standard
# library's fixed vulnerabilities in older ones); the go command fetches it
# through the module proxy when the one installed is older.
export GOTOOLCHAIN ?= auto
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/flowfabric/ffdelay/commands.Version=$(VERSION)
FUZZTIME ?= 10s

.PHONY: build test race demo bench lint fuzz deps clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o ffdelay .

# deps installs redis-server (and zsh, tmux and systemd-analyze, for the
# completion, top and deployment tests) when missing and checks that
# redis-server is 7.0 or newer (FUNCTION/FCALL). Tests use
# FFDELAY_TEST_SERVERS when it is set. promtool (the alerting rules' checks
# and tests) is taken from Debian's prometheus package without installing
# it: the package would also set up a Prometheus server.
PROMTOOL ?= $(shell command -v promtool 2>/dev/null || echo /usr/local/bin/promtool)
deps: $(PROMTOOL)
$(PROMTOOL):
	@echo "installing promtool (from Debian's prometheus package, extracted: no Prometheus server is set up)"
	@d=$$(mktemp -d) && cd $$d && apt-get download -qq prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download -qq prometheus; } && \
		dpkg-deb -x prometheus_*.deb x && install -m 0755 x/usr/bin/promtool $(PROMTOOL) && rm -rf $$d
	@$(PROMTOOL) --version | head -1
deps:
	@command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && command -v zsh >/dev/null 2>&1 && command -v tmux >/dev/null 2>&1 && command -v systemd-analyze >/dev/null 2>&1 || { \
		echo "installing redis-server, zsh (completion tests), tmux (the top test) and systemd (systemd-analyze, the unit's test) with apt-get"; \
		apt-get update -qq && apt-get install -y -qq redis-server redis-tools zsh tmux systemd >/dev/null; }
	@v=$$(redis-server --version | sed -n 's/.*v=\([0-9]*\)\..*/\1/p'); \
	if [ "$${v:-0}" -lt 7 ]; then echo "redis-server $$v is too old: ffdelay needs Redis >= 7.0 or Valkey >= 7.2 (FUNCTION/FCALL)"; exit 1; fi; \
	redis-server --version

# test runs every test under the race detector against the first server of
# FFDELAY_TEST_SERVERS (default: valkey-server, else redis-server), then,
# when more servers are named, the whole matrix again without it (a
# race-built ffdelay is several times slower, and the code under test is
# the same on every server). FlowFabric's release libraries are used where
# found (FFDELAY_TEST_LIBRARIES).
#
# GORACE=atexit_sleep_ms=0: a race-built program sleeps a second when it
# exits (ThreadSanitizer's default, for threads to finish their reports),
# and the scripts and process tests run ffdelay hundreds of times: 1.04s a
# run against 0.04s measured here. Races are still reported, and still
# fail the run (exit 66).
comma := ,
export GORACE ?= atexit_sleep_ms=0
servers := $(subst $(comma), ,$(FFDELAY_TEST_SERVERS))
test: deps
	@echo "== go vet (compiles every package; the first run also fetches the modules and go.mod's Go toolchain)"
	$(GO) vet ./...
	@echo "== every test under the race detector on $(or $(firstword $(servers)),the default server) (compiling with -race takes a minute before the first result)"
	FFDELAY_TEST_SERVERS="$(firstword $(servers))" FFDELAY_TEST_MATRIX_FULL= \
		$(GO) test -race -count=1 -timeout 30m ./...
	@if [ $(words $(servers)) -gt 1 ]; then \
		echo "== every test again, without the race detector, on each of $(words $(servers)) servers"; \
		$(GO) test -count=1 -timeout 30m ./...; \
	else \
		echo "== one server: the race pass tested it (FFDELAY_TEST_SERVERS=a,b,... tests more)"; \
	fi

# race runs everything under the race detector on every server (slow).
race: deps
	$(GO) test -race -count=1 -timeout 60m ./...

# demo runs on a throwaway server; URL=redis://host:port/db seeds yours
# instead (an empty database only, unless FORCE=1; LOAD_LIBRARY=1 loads the
# project's fixture library when the server has no flowfabric library).
demo: deps build
	$(GO) run -tags ffsandbox ./internal/cmd/ffsandbox demo --ffdelay ./ffdelay \
		$(if $(URL),--url "$(URL)") $(if $(FORCE),--force) $(if $(LOAD_LIBRARY),--load-library)

bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./redisops/
	$(GO) run -tags ffsandbox ./internal/cmd/ffsandbox bench --ffdelay ./ffdelay

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseExecutionID$$' -fuzztime $(FUZZTIME) ./redisops/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDelayedKey$$' -fuzztime $(FUZZTIME) ./redisops/
	$(GO) test -run '^$$' -fuzz '^FuzzValidateLane$$' -fuzztime $(FUZZTIME) ./redisops/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePromoteReply$$' -fuzztime $(FUZZTIME) ./redisops/
	$(GO) test -run '^$$' -fuzz '^FuzzGuard$$' -fuzztime $(FUZZTIME) ./redisops/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePartitionSpec$$' -fuzztime $(FUZZTIME) ./commands/
	$(GO) test -run '^$$' -fuzz '^FuzzParseLanes$$' -fuzztime $(FUZZTIME) ./commands/
	$(GO) test -run '^$$' -fuzz '^FuzzParseTagFilter$$' -fuzztime $(FUZZTIME) ./commands/
	$(GO) test -run '^$$' -fuzz '^FuzzParseURL$$' -fuzztime $(FUZZTIME) ./commands/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDuration$$' -fuzztime $(FUZZTIME) ./commands/
	$(GO) test -run '^$$' -fuzz '^FuzzReorderArgs$$' -fuzztime $(FUZZTIME) ./commands/
	$(GO) test -run '^$$' -fuzz '^FuzzSafe$$' -fuzztime $(FUZZTIME) ./output/
	$(GO) test -run '^$$' -fuzz '^FuzzAppendResult$$' -fuzztime $(FUZZTIME) ./output/

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) vet -tags ffsandbox ./internal/cmd/ffsandbox
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags ffsandbox ./internal/cmd/ffsandbox
	GO=$(GO) .ci/vulncheck

clean:
	rm -f ffdelay
