# upgrade-harness: the two commands that matter are `make e2e` (run the upgrade
# matrix) and `make test` (every test, unit and e2e). Both set up what they need
# on a fresh machine: Docker engine, offline kind node image, simulated images.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
HARNESS := $(BIN)/upgrade-harness
export CGO_ENABLED := 0
export ARTIFACTS ?= $(CURDIR)/_artifacts

CATALOG ?= simulated
CLUSTER ?= uh-dev
FROM ?=
TO ?=
ORDER ?= all-at-once
KEEP ?= on-failure
OVERRIDES ?=
LABELS ?=
# Upstream mode: MANIFESTS_DIR=../shared/upstream-manifests IMAGE_REMAP=quay.io/ambient_code=localhost/ambient-sim
MANIFESTS_DIR ?=
IMAGE_REMAP ?=
E2E_TIMEOUT ?= 80m

UNIT_PKGS = $$($(GO) list ./... | grep -v /tests/e2e)

.PHONY: all bin engine node-image images cluster cluster-down clean-clusters unit test test-e2e e2e repro bench lint clean help

all: bin

help:
	@echo "make e2e          run the upgrade matrix (simulated catalog by default; CATALOG=, LABELS=, FROM=, TO=)"
	@echo "make test         unit tests and e2e tests on a real kind cluster"
	@echo "make repro FROM=v0.2.0 TO=v0.2.2 [ORDER=…] [OVERRIDES=…]   one cell, cluster kept"
	@echo "make node-image   build (or reuse) the offline kind node image; NODE_IMAGE=… uses another"
	@echo "make cluster / cluster-down / clean-clusters"
	@echo "make bench        phase timings against their floors"

bin:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/ ./harness/cmd/...

engine: bin
	$(HARNESS) engine

node-image: bin
	$(HARNESS) node-image

images: bin engine
	$(HARNESS) images

cluster: bin
	$(HARNESS) cluster up -name $(CLUSTER)

cluster-down: bin
	$(HARNESS) cluster down -name $(CLUSTER)

clean-clusters: bin
	$(HARNESS) cluster clean

unit:
	$(GO) vet ./...
	$(GO) test -count=1 $(UNIT_PKGS)

# Prepares engine, node image and images once (visible progress), then runs the
# e2e suite on a real kind cluster.
test-e2e: bin engine
	NODE_IMAGE="$${NODE_IMAGE:-$$($(HARNESS) node-image)}" && export NODE_IMAGE && \
	$(HARNESS) images && \
	$(GO) test -count=1 -timeout $(E2E_TIMEOUT) -v ./tests/e2e/

test: unit test-e2e

e2e: bin engine
	$(HARNESS) matrix -catalog $(CATALOG) $(if $(LABELS),-labels $(LABELS)) $(if $(FROM),-from $(FROM)) $(if $(TO),-to $(TO)) \
	  $(if $(and $(FROM),$(TO)),-order $(ORDER)) $(if $(OVERRIDES),-overrides '$(OVERRIDES)') -keep $(KEEP) -artifacts $(ARTIFACTS) \
	  $(if $(MANIFESTS_DIR),-manifests-dir $(MANIFESTS_DIR)) $(if $(IMAGE_REMAP),-image-remap $(IMAGE_REMAP))

repro: bin engine
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make repro FROM=v0.2.0 TO=v0.2.2 [ORDER=…] [CATALOG=…] [OVERRIDES='backend=img,…'] [NODE_IMAGE=…]"; exit 2; }
	$(HARNESS) matrix -catalog $(CATALOG) -from $(FROM) -to $(TO) -order $(ORDER) $(if $(OVERRIDES),-overrides '$(OVERRIDES)') -keep always -artifacts $(ARTIFACTS) \
	  $(if $(MANIFESTS_DIR),-manifests-dir $(MANIFESTS_DIR)) $(if $(IMAGE_REMAP),-image-remap $(IMAGE_REMAP))

bench: bin engine
	$(HARNESS) bench -artifacts $(ARTIFACTS)

clean:
	rm -rf $(BIN) $(ARTIFACTS)
