# signet: build, test and demo. `make demo` and `make test` install what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Debian packages: the system libraries signet links, and the real peers the tests start.
APT_PACKAGES := libssl-dev libcurl4-openssl-dev libnghttp2-dev openssl curl ca-certificates \
                python3 python3-yaml python3-jsonschema docker-registry skopeo apache2-utils
# Python modules the tests use (a token issuer for registry Bearer auth).
PIP_MODULES := cryptography

SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
BIN_DIR = $(shell $(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)

.PHONY: deps build test demo clean

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

build: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

test: build
	SIGNET_BINARY="$(BIN_DIR)/signet" $(SWIFT) test $(SWIFT_BUILD_FLAGS)

demo: build
	SIGNET_BINARY="$(BIN_DIR)/signet" bash deploy/demo/run-demo.sh

clean:
	rm -rf .build
