# secure-defaults — run `make help` for the targets.

SHELL := /usr/bin/env bash
GO ?= go
BIN := bin/secure-defaults
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/secure-defaults/secure-defaults/pkg/version.Version=$(VERSION) -X github.com/secure-defaults/secure-defaults/pkg/version.Commit=$(COMMIT)
# How long each fuzz target runs in `make fuzz-smoke`; `make fuzz` runs longer.
FUZZTIME ?= 15s

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the binary into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/secure-defaults

.PHONY: demo
demo: ## Local cluster (as root with a kubelet): the webhook as a pod, the example pods running, what they see from inside.
	hack/demo.sh

.PHONY: demo-offline
demo-offline: build ## Show what the rules add to examples/deployment.yaml (a diff), without a cluster.
	$(BIN) mutate --check -f examples/deployment.yaml || test $$? -eq 3 # 3: the file would change

.PHONY: run
run: ## Run the webhook locally with a throwaway self-signed certificate.
	$(GO) run ./cmd/secure-defaults serve --self-signed

.PHONY: lint
lint: ## gofmt and go vet over every Go module in the repository (e2e tag included).
	hack/lint.sh

.PHONY: unit
unit: ## Unit tests, each fuzz target's seeds and committed findings included (race detector off: CI has 2 cores).
	$(GO) test ./...

.PHONY: fuzz-smoke
fuzz-smoke: ## Explore with every fuzz target briefly ($(FUZZTIME) each); a finding goes under testdata/fuzz.
	hack/fuzz.sh $(FUZZTIME)

.PHONY: validation
validation: ## The API server's own pod validation over every rule fixture, the mutate corpus and generated pods: valid before => valid after.
	hack/validation.sh

.PHONY: test
# Exploration (fuzz-smoke, fuzz) is not part of `test`: a test run must give
# the same verdict on the same tree. What the fuzzers find is committed under
# testdata/fuzz, where `unit` replays it on every run.
test: lint unit validation ## lint + all unit tests (fuzz seeds and findings replayed) + the API server's validation check.

.PHONY: generate
generate: ## Regenerate the shipped MutatingAdmissionPolicy (deploy/policy) from the rules (review the diff!).
	UPDATE_GOLDEN=1 $(GO) test ./pkg/export/ -run TestGolden
	git diff --stat -- deploy/policy

.PHONY: golden
golden: ## Regenerate the mutate goldens (pkg/manifest/testdata/golden, the README's mutate diffs; review the diff!).
	UPDATE_GOLDEN=1 $(GO) test ./pkg/manifest/ ./pkg/cli/ -run 'Golden|Readme'
	git diff --stat -- pkg/manifest/testdata/golden README.md

.PHONY: fuzz
fuzz: ## Run every fuzz target for 5 minutes.
	hack/fuzz.sh 5m

.PHONY: e2e-bins
e2e-bins: ## Build (once, cached outside the repo) kube-apiserver, etcd, kubectl and kubelet v1.37.2.
	hack/e2e-bins.sh

.PHONY: e2e
e2e: ## End-to-end tests: real kube-apiserver, etcd, kubelet and containerd on loopback (root; SECURE_DEFAULTS_E2E_KEEP=1 keeps logs).
	@if [ "$$(id -u)" = 0 ] && [ "$${SECURE_DEFAULTS_E2E_NODE:-on}" != off ]; then hack/node-packages.sh; fi
	SECURE_DEFAULTS_E2E_BINS="$$(hack/e2e-bins.sh)" $(GO) test -tags e2e -count=1 -timeout 30m -v ./e2e/...

.PHONY: verify-deploy
verify-deploy: ## helm lint/template + kustomize build, and check both renderings agree.
	hack/verify-deploy.sh

.PHONY: bench
bench: ## Benchmarks (~3-4 min, not in CI): handler vs floor, TLS load vs a controller-runtime reference, API server latency; see docs/performance.md.
	hack/bench.sh

.PHONY: stress
stress: build ## Hostile load on the real binary (slow and large bodies, repeated names, bad certificates): peak RSS and latency; see docs/hardening.md.
	$(GO) run ./hack/stress -bin $(BIN)

.PHONY: clean
clean: ## Remove build output.
	rm -rf bin
