# ffdelay: see, promote and diagnose FlowFabric's delayed executions.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/flowfabric/ffdelay/internal/commands.Version=$(VERSION)
FUZZTIME ?= 10s

.PHONY: build test race demo bench lint fuzz deps clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o ffdelay .

# deps installs redis-server (Redis 7, with FUNCTION/FCALL) when missing.
deps:
	@command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || { \
		echo "installing redis-server (apt-get)"; \
		apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null; }
	@redis-server --version

# test runs everything; the packages with the concurrent promotion engine
# also run under the race detector (make race runs all of it that way).
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 10m ./...
	$(GO) test -race -count=1 -timeout 10m ./internal/redisops/ ./internal/commands/ ./internal/output/

race: deps
	$(GO) test -race -count=1 -timeout 15m ./...

demo: deps build
	$(GO) run -tags ffsandbox ./internal/cmd/ffsandbox demo --ffdelay ./ffdelay

bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./internal/redisops/
	$(GO) run -tags ffsandbox ./internal/cmd/ffsandbox bench --ffdelay ./ffdelay

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseExecutionID$$' -fuzztime $(FUZZTIME) ./internal/redisops/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDelayedKey$$' -fuzztime $(FUZZTIME) ./internal/redisops/
	$(GO) test -run '^$$' -fuzz '^FuzzValidateLane$$' -fuzztime $(FUZZTIME) ./internal/redisops/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePromoteReply$$' -fuzztime $(FUZZTIME) ./internal/redisops/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePartitionSpec$$' -fuzztime $(FUZZTIME) ./internal/commands/
	$(GO) test -run '^$$' -fuzz '^FuzzParseLanes$$' -fuzztime $(FUZZTIME) ./internal/commands/
	$(GO) test -run '^$$' -fuzz '^FuzzParseTagFilter$$' -fuzztime $(FUZZTIME) ./internal/commands/
	$(GO) test -run '^$$' -fuzz '^FuzzParseURL$$' -fuzztime $(FUZZTIME) ./internal/commands/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDuration$$' -fuzztime $(FUZZTIME) ./internal/commands/

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -f ffdelay
