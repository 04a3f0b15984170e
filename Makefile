# Storefront developer workflows. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

GO ?= go
# Packages of every module in the workspace (go.work). The e2e suite runs
# separately, against the built service images.
PKGS := ./libs/... ./services/catalogue/... ./services/orders/... ./services/analytics/... ./tools/...
E2E_PKGS := ./e2e/...
# Module directories. Each builds and tidies on its own (GOWORK=off); go.work
# is a convenience on top.
MODULES := libs services/catalogue services/orders services/analytics e2e tools deploy/helm
# The Helm chart's tests live in a module of their own, outside go.work, so
# Helm's and Kubernetes' dependencies never reach the services' build list.
CHART_MODULE := deploy/helm
# protovalidate's validate.proto is taken from this Go module, not vendored.
PROTOVALIDATE_MODULE := github.com/bufbuild/protovalidate
PROTOVALIDATE_VERSION := v1.2.2
PROTO_DEPS := .cache/protodeps
IMAGES_ENV := .cache/images.env
GO_TEST_FLAGS ?=

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(PROTO_DEPS)/buf/validate/validate.proto:
	@dir="$$($(GO) mod download -json $(PROTOVALIDATE_MODULE)@$(PROTOVALIDATE_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p')"; \
	test -n "$$dir" || { echo "cannot locate $(PROTOVALIDATE_MODULE)@$(PROTOVALIDATE_VERSION) in the module cache" >&2; exit 1; }; \
	rm -rf $(PROTO_DEPS) && mkdir -p $(PROTO_DEPS) && cp -R "$$dir/proto/protovalidate/buf" $(PROTO_DEPS)/ && chmod -R u+w $(PROTO_DEPS)

.PHONY: proto-deps
proto-deps: $(PROTO_DEPS)/buf/validate/validate.proto ## Copy validate.proto from the Go module cache

.PHONY: generate
generate: proto-deps ## Regenerate libs/gen from proto/ (go tool only), the Grafana dashboards (tools/dashboards) and docs/helm-values.md
	rm -rf libs/gen
	$(GO) tool buf generate proto
	$(GO) run ./tools/dashboards -out deploy/helm/storefront/dashboards
	cd $(CHART_MODULE) && GOWORK=off $(GO) test -count=1 -run '^TestValuesReference$$' . -args -update-values-doc

.PHONY: check-generate
check-generate: proto-deps ## Fail when libs/gen, the dashboards or docs/helm-values.md are stale
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(GO) tool buf generate proto -o "$$tmp"; \
	if ! diff -r "$$tmp/libs/gen" libs/gen >/dev/null; then \
		diff -r "$$tmp/libs/gen" libs/gen | head -40 >&2; \
		echo "libs/gen is stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi; \
	$(GO) run ./tools/dashboards -out "$$tmp/dashboards"; \
	if ! diff -r "$$tmp/dashboards" deploy/helm/storefront/dashboards >/dev/null; then \
		diff -r "$$tmp/dashboards" deploy/helm/storefront/dashboards | head -40 >&2; \
		echo "the dashboards are stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi; \
	(cd $(CHART_MODULE) && GOWORK=off $(GO) test -count=1 -run '^TestValuesReference$$' . >/dev/null) || { \
		echo "docs/helm-values.md is stale: run 'make generate' and commit the result" >&2; exit 1; }; \
	echo "generated code, dashboards and the Helm values reference are up to date"

.PHONY: breaking
breaking: proto-deps ## buf breaking against the newest v* tag, else the parent commit (BREAKING_AGAINST overrides)
	@base="$${BREAKING_AGAINST:-$$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || true)}"; \
	if [ -z "$$base" ] && git rev-parse -q --verify 'HEAD^{commit}' >/dev/null && git rev-parse -q --verify 'HEAD^' >/dev/null; then base='HEAD^'; fi; \
	if [ -z "$$base" ]; then echo "breaking: no release tag and no parent commit to compare with; skipped"; exit 0; fi; \
	if ! git cat-file -e "$$base:proto/buf.yaml" 2>/dev/null; then echo "breaking: $$base has no proto/ yet; skipped"; exit 0; fi; \
	tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	git archive "$$base" proto buf.work.yaml | tar -x -C "$$tmp"; \
	mkdir -p "$$tmp/.cache" && cp -R $(PROTO_DEPS) "$$tmp/.cache/"; \
	buf="$$($(GO) tool -n buf)"; (cd "$$tmp" && "$$buf" build proto -o base.binpb); \
	$(GO) tool buf breaking proto --exclude-imports --against "$$tmp/base.binpb"; \
	echo "breaking: no breaking changes against $$base ($$(git rev-parse --short "$$base"))"

.PHONY: check-tidy
check-tidy: ## Fail when a module's go.mod or go.sum is not tidy (go mod tidy -diff, GOWORK=off)
	@untidy=(); for m in $(MODULES); do \
		if ! out="$$(cd "$$m" && GOWORK=off $(GO) mod tidy -diff 2>&1)"; then \
			printf '%s\n' "$$out" | sed -n '1,60p' >&2; \
			echo "check-tidy: module $$m is not tidy: run 'cd $$m && GOWORK=off go mod tidy' and commit the result" >&2; \
			untidy+=("$$m"); \
		fi; \
	done; \
	if [ "$${#untidy[@]}" -gt 0 ]; then echo "check-tidy: not tidy: $${untidy[*]}" >&2; exit 1; fi; \
	echo "every module is tidy: $(MODULES)"

.PHONY: lint
lint: proto-deps ## buf lint, gofmt and golangci-lint
	$(GO) tool buf lint proto
	@out="$$(gofmt -l libs services e2e tools deploy)"; if [ -n "$$out" ]; then echo "gofmt needed:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) tool golangci-lint run $(PKGS) $(E2E_PKGS)
	lint="$$($(GO) tool -n golangci-lint)"; cd $(CHART_MODULE) && GOWORK=off "$$lint" run ./...

.PHONY: test-unit
test-unit: ## Unit tests: -short, race detector, no Docker
	$(GO) test -short -race -count=1 $(GO_TEST_FLAGS) $(PKGS) $(E2E_PKGS)

.PHONY: test-chart
test-chart: ## Helm chart: helm lint --strict, the schema, every render of the values matrix decoded strictly and held to the chart's rules, promtool on the alert rules
	@bash $(CHART_MODULE)/install-promtool.sh
	cd $(CHART_MODULE) && GOWORK=off $(GO) test -count=1 $(GO_TEST_FLAGS) ./...

.PHONY: rules
rules: ## Write the chart's alert rules to deploy/compose/prometheus/rules.yml for the local Prometheus
	cd $(CHART_MODULE) && GOWORK=off $(GO) test -count=1 -run '^TestComposeRulesAreTheChartRules$$' . -args -update-rules

.PHONY: images-deps
images-deps: ## Build local Postgres and NATS images when the public ones can't be had
	bash tools/images/ensure-deps.sh

.PHONY: test-integration
test-integration: images-deps ## Integration tests on real Postgres and NATS (testcontainers)
	set -a; . ./$(IMAGES_ENV); set +a; \
	$(GO) test -count=1 -timeout 20m $(GO_TEST_FLAGS) $(PKGS)

.PHONY: test-e2e
test-e2e: images-deps images ## End-to-end suite: the whole system in containers, under faults, and a real browser; summary in .cache/test-output/e2e/report.md
	@bash e2e/install-chromium.sh
	@if [ -z "$${STOREFRONT_PROMETHEUS_IMAGE:-}" ]; then bash tools/images/prometheus.sh; fi
	@set -a; . ./$(IMAGES_ENV); set +a; \
	trap 'bash e2e/remove-leftovers.sh' EXIT; \
	mkdir -p $(CURDIR)/.cache/test-output; \
	rm -f .cache/test-output/e2e/report.md; \
	$(GO) test -count=1 -timeout 15m -outputdir $(CURDIR)/.cache/test-output -artifacts $(GO_TEST_FLAGS) $(E2E_PKGS); \
	if [ -f .cache/test-output/e2e/report.md ]; then cat .cache/test-output/e2e/report.md; fi

.PHONY: test
test: lint check-generate breaking check-tidy test-unit test-chart test-integration test-e2e ## What CI runs: lint, contracts, tidy modules, unit, integration and end-to-end tests

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 20s)
	$(GO) test ./libs/consumer -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $${FUZZTIME:-20s}
	$(GO) test ./libs/interceptor -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $${FUZZTIME:-20s}
	$(GO) test ./services/analytics/internal/contract -run '^$$' -fuzz '^FuzzEvent$$' -fuzztime $${FUZZTIME:-20s}
	$(GO) test ./services/analytics/internal/contract -run '^$$' -fuzz '^FuzzOrder$$' -fuzztime $${FUZZTIME:-20s}
	$(GO) test ./services/analytics/internal/contract -run '^$$' -fuzz '^FuzzClearlyValid$$' -fuzztime $${FUZZTIME:-20s}

.PHONY: clean
clean: ## Remove build caches of this repo (.cache, bin)
	rm -rf .cache bin

# --- Images and local stack ---
# Service images are FROM scratch around a binary built on the host, so no
# registry is needed; deploy/compose/stack.sh runs the compose stack.

.PHONY: images
images: ## Build the service images storefront/<svc>:dev (no registry needed)
	bash tools/images/services.sh

.PHONY: up
up: ## Start Postgres, NATS and the services; wait until healthy, seed demo data, print endpoints
	bash deploy/compose/stack.sh up

.PHONY: down
down: ## Stop and remove the local stack (keeps its data volumes)
	bash deploy/compose/stack.sh down

.PHONY: down-volumes
down-volumes: ## Stop and remove the local stack and its data volumes
	bash deploy/compose/stack.sh down-volumes

.PHONY: seed
seed: ## Seed demo products into the running stack (idempotent)
	bash deploy/compose/stack.sh seed

.PHONY: bench-perf
bench-perf: images-deps ## tools/perf: R1, R1b, L1, R7, R8 against host processes and their baselines; the server on CPU 1, the generator on CPU 0; output in .cache/bench/perf.txt
	@mkdir -p .cache/bench
	$(GO) test -c -o .cache/bench/perf.test ./tools/perf
	set -a; . ./$(IMAGES_ENV); set +a; \
	pin=(); if [ "$$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then pin=(taskset -c 0); export PERF_SERVER_CPU=1; fi; \
	cd tools/perf && "$${pin[@]}" ../../.cache/bench/perf.test -test.run '^$$' -test.bench "$${PERF_BENCH:-.}" -test.benchtime 1x -test.timeout 15m \
		| tee ../../.cache/bench/perf.txt

.PHONY: bench
bench: bench-perf bench-micro ## The benchmark report: tools/perf and the micro-benchmarks, written to docs/benchmarks.json and the generated table in docs/benchmarks.md (about 6 minutes; not part of make test)
	set -a; . ./$(IMAGES_ENV); set +a; \
	$(GO) run ./tools/benchreport -json docs/benchmarks.json -md docs/benchmarks.md .cache/bench/*.txt

# BENCH_ROUNDS is how many times each A/B pair of the micro-benchmarks runs,
# alternating (one go test run per side per round).
BENCH_ROUNDS ?= 3
# BENCH_SEARCH_SIZES are the catalogue sizes S1 searches. Below 10k the
# planner rightly scans the products table, which the benchmark refuses.
BENCH_SEARCH_SIZES ?= 10000,100000

.PHONY: bench-micro
bench-micro: images-deps ## R2, R4, R5, R6, S1: the in-process benchmarks against their baselines, A/B alternating; output in .cache/bench/*.txt
	@mkdir -p .cache/bench
	set -a; . ./$(IMAGES_ENV); set +a; \
	rm -f .cache/bench/micro-*.txt; \
	for k in $$(seq $(BENCH_ROUNDS)); do \
		for sub in bare storefront-chain; do \
			$(GO) test -run '^$$' -bench "^BenchmarkUnaryCall$$/^$$sub$$" -benchmem ./libs/grpcserver | tee -a .cache/bench/micro-r2.txt; \
		done; \
		for sub in grpc json; do \
			$(GO) test -run '^$$' -bench "^BenchmarkGRPCAgainstJSON$$/^$$sub$$" -benchmem ./libs/grpcserver | tee -a .cache/bench/micro-r6.txt; \
		done; \
	done; \
	$(GO) test -run '^$$' -bench '^BenchmarkRelayAgainstRawPublish$$' -benchtime 1x ./libs/outbox | tee .cache/bench/micro-r5.txt; \
	$(GO) test -run '^$$' -bench '^BenchmarkStreamEventsAgainstRawCopy$$' -count $(BENCH_ROUNDS) ./services/analytics/internal/server | tee .cache/bench/micro-r4.txt; \
	BENCH_SEARCH_SIZES="$(BENCH_SEARCH_SIZES)" $(GO) test -run '^$$' -bench '^BenchmarkSearchLatency$$' -benchtime 200x -timeout 15m ./services/catalogue/internal/server | tee .cache/bench/micro-s1.txt

.PHONY: bench-stack
bench-stack: ## Load the running stack (make up) with tools/bench (ratios against the health check); BENCH_FLAGS adds flags
	STOREFRONT_TOKEN="$$($(GO) run ./tools/storefrontctl token --sub bench --role customer --ttl 1h)" \
		$(GO) run ./tools/bench $(BENCH_FLAGS)
