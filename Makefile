# otelcol-fleet — the front door. `make help` lists the targets.

# The one place the builder version lives; keep it on the release the manifest pins.
OCB_VERSION ?= v0.165.0
GO          ?= go
TOOLS_DIR   := $(CURDIR)/.tools
OCB         := $(TOOLS_DIR)/builder-$(OCB_VERSION)
# The peer make bench measures beside the collector (internal/bench's VMAgentVersion).
VMAGENT_VERSION ?= v1.151.0
VMAGENT     := $(TOOLS_DIR)/vmagent-$(VMAGENT_VERSION)
BUILD_DIR   := $(CURDIR)/distribution/_build
BINARY      := $(BUILD_DIR)/otelcol-fleet
CONFIG      ?= $(CURDIR)/distribution/config.yaml
IMAGE_CONTEXT := $(BUILD_DIR)/image-context
# OCB builds with CGO disabled; build everything else the same way so the Go build cache is shared
# (a build with another CGO setting misses the cache and takes minutes).
export CGO_ENABLED = 0
# sigv4auth reaches for the EC2 metadata service when it has no credentials; never from here.
export AWS_EC2_METADATA_DISABLED = true

# Only one OCB build at a time on a 2-core machine: they share the build cache and memory.
LOCK := flock /tmp/ocb.lock

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z0-9_-]+:.*?## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(OCB):
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	mv $(TOOLS_DIR)/builder $(OCB)

.PHONY: ocb
ocb: $(OCB) ## Install the pinned OpenTelemetry Collector Builder into .tools/

.PHONY: build
build: $(OCB) ## Build distribution/_build/otelcol-fleet with OCB, the healthcheck probe, and the Dockerfile's build context
	$(LOCK) $(OCB) --config builder-config.yaml
	$(GO) build -trimpath -ldflags='-s -w' -o $(BUILD_DIR)/healthcheck ./distribution/healthcheck
	@# What distribution/Dockerfile (FROM scratch) copies: the binaries, the default config, users, CA bundle.
	cd distribution/image && $(GO) run . -context $(IMAGE_CONTEXT)

.PHONY: build-gateway
build-gateway: $(OCB) ## Build distribution/_build/gateway/otelcol-fleet-gateway: only what a gateway runs (distribution/gateway), a third of the binary
	@# OCB makes only the last folder of output_path: on a fresh clone _build is not there yet.
	@mkdir -p $(BUILD_DIR)
	$(LOCK) $(OCB) --config distribution/gateway/builder-config.yaml

.PHONY: run
run: build ## Build, then run the collector on distribution/config.yaml
	$(BINARY) --config $(CONFIG)

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd distribution/image && $(GO) vet ./...

# Real servers the end-to-end tests run against, the browser that checks the fleet page, and
# the container runtime that runs the image (Debian packages); installed when missing.
TEST_PACKAGES := prometheus nginx-light chromium podman runc

.PHONY: test-deps
test-deps: ## Install the real servers the tests use (Debian packages; needs root)
	@missing=""; for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# -count=1 throughout: these tests run real servers and the built binary, which the Go test
# cache does not see; a cached pass would not be a pass of this build.
.PHONY: test
test: build build-gateway test-deps lint ## Every test: unit tests with -race, the built binaries, packaging, then make e2e
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/internal/e2e$$')
	$(MAKE) test-packaging
	$(MAKE) e2e

.PHONY: test-packaging
test-packaging: build test-deps ## Image (run chrooted and in podman, as root), ECS, EKS and EC2 tests (own module)
	cd distribution/image && CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

.PHONY: image
image: build ## Container image without Docker: OCI layout + docker-archive in distribution/_build/
	cd distribution/image && $(GO) run . -out $(BUILD_DIR)

.PHONY: e2e
e2e: build test-deps ## The gateway architecture on real parts: every scenario, with its table
	$(GO) test -count=1 -v -timeout 15m ./internal/e2e

.PHONY: bench
bench: build build-gateway $(VMAGENT) ## Benchmarks (~25 min, not in make test): components, then the built binary vs the stock pipeline and vmagent, vmagent and the gateway-only binary beside (c) at every scale point
	$(GO) test -run '^$$' -bench . -benchmem ./processor/seriesguardprocessor ./exporter/orderedrwexporter/internal/ordering ./exporter/orderedrwexporter/internal/wal ./extension/fleethealthextension ./internal/seriestable
	$(GO) test -run '^$$' -bench BenchmarkEncode -benchtime 100x ./exporter/orderedrwexporter/internal/encode
	$(GO) test -run '^$$' -bench BenchmarkMemory -benchmem ./exporter/orderedrwexporter
	# Two rounds, each running the stock exporter and ordered_rw side by side at every size.
	for round in 1 2; do $(GO) test -run '^$$' -bench BenchmarkThroughput -benchtime 150x -benchmem ./exporter/orderedrwexporter || exit 1; done
	$(GO) run ./internal/bench/cmd/fleetbench -only a,b,c,d,v -scale 100000,200000,1000000 -scale-only c,s,gw,v -vmagent $(VMAGENT) -floor 2s -budget 21m -out $(BUILD_DIR)/bench-results.md
	# The issue's memory point as it states it: 200k series under saturating load (the scale runs
	# above send 100k samples/s), where what is queued on the shards counts too (~2 min).
	$(GO) run ./internal/bench/cmd/fleetbench -only none -scale 200000 -scale-only gw,s,v -scale-rate 0 -vmagent $(VMAGENT) -budget 6m -out $(BUILD_DIR)/bench-saturation.md

.PHONY: vmagent
vmagent: $(VMAGENT) ## Build the peer make bench measures beside us (vmagent, pinned) into .tools/

# vmagent from the module proxy at the pinned version, built as the collector is (~30 s).
$(VMAGENT):
	@mkdir -p $(TOOLS_DIR)/vmagent-build
	GOBIN=$(TOOLS_DIR)/vmagent-build $(GO) install github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent@$(VMAGENT_VERSION)
	mv $(TOOLS_DIR)/vmagent-build/vmagent $@

.PHONY: bench-overhead
bench-overhead: build ## series_guard's CPU overhead on the built binary (~5 min): with vs without, same load, 12 rounds
	$(GO) run ./internal/bench/cmd/fleetbench -overhead -overhead-rounds 12 -overhead-burst 4s -profile-seconds 20s

.PHONY: compliance
compliance: build ## Remote-write 1.0 sender compliance suite (~4 min, not in make test): COMPLIANCE=<checkout of github.com/prometheus/compliance>
	exporter/orderedrwexporter/testdata/compliance/run.sh

.PHONY: demo
demo: build test-deps ## Stock vs ordered_rw gateways side by side at human speed; stays up until Ctrl-C
	$(GO) run ./internal/e2e/cmd/fleetdemo

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BUILD_DIR)
