# upgrade-harness: the two commands that matter are `make e2e` (run the upgrade
# matrix) and `make test` (every test, unit and e2e). Both set up what they need
# on a fresh machine: Docker engine, offline kind node image, simulated images.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
HARNESS := $(BIN)/upgrade-harness
export CGO_ENABLED := 0
# Reports and bundles; empty means $(CURDIR)/_artifacts (set below: values are taken literally).
ARTIFACTS ?=

CATALOG ?= simulated
# CLUSTER=NAME: the kind cluster of e2e, repro, diagnose, cluster and cluster-down
# (empty: each command's default, uh-matrix, uh-diagnose or uh-dev).
CLUSTER ?=
# CELL=NAME: only the cell of that name (as `bin/upgrade-harness cells` prints it), or a glob.
CELL ?=
FROM ?=
TO ?=
ORDER ?= all-at-once
KEEP ?= on-failure
OVERRIDES ?=
LABELS ?=
# ROLLBACK=true selects the cells that roll back to FROM after the upgrade (false: the plain ones).
ROLLBACK ?=
# REPEAT=N runs each selected cell N times; cells whose verdicts differ are flaky (exit 1).
REPEAT ?= 1
# PARALLEL=N runs the cells of make e2e on N kind clusters at once (1–8: CLUSTER, CLUSTER-1, …).
PARALLEL ?= 1
# DIAGNOSE=true runs the compatibility sweep of every failed cell's from and to after the matrix;
# PROBE=false leaves failed cells undiagnosed (no runner probe).
DIAGNOSE ?= false
PROBE ?= true
# DRY_RUN=true checks every input and prints the plan without touching the engine or a cluster.
DRY_RUN ?= false
# JUNIT_INCONCLUSIVE=skipped shows inconclusive cells as JUnit <skipped> (default failure).
JUNIT_INCONCLUSIVE ?= failure
# Upstream mode: MANIFESTS_DIR=../shared/upstream-manifests IMAGE_REMAP=quay.io/ambient_code=localhost/ambient-sim
MANIFESTS_DIR ?=
IMAGE_REMAP ?=
NODE_IMAGE ?=
E2E_TIMEOUT ?= 80m
# Each fuzz target runs this long in `make test` (seeds alone run in `make unit`).
FUZZTIME ?= 20s
# e2e tests `make test` leaves out (CI budget); E2E_SKIP= runs them too.
E2E_SKIP ?= Slow$$
# e2e tests to run (go test -run; empty: all that E2E_SKIP leaves).
E2E_RUN ?=
# Candidate release (a platform PR's build) as the `to` of every cell, from FROM
# (default: the two newest releases): CANDIDATE_MANIFESTS=dir|file,
# CANDIDATE_IMAGES='operator=…,backend=…', CANDIDATE_NAME=pr-1234,
# CANDIDATE_EXPECT=pass|fail with CANDIDATE_WHY=… (scripts/gate.sh runs this for CI).
CANDIDATE_MANIFESTS ?=
CANDIDATE_IMAGES ?=
CANDIDATE_NAME ?=
CANDIDATE_EXPECT ?=
CANDIDATE_WHY ?=
# Bisect (make bisect FROM=…): the builds as BUILDS=file.yaml, or IMAGE_TEMPLATE=…{component}…{id}
# with IDS=file (one id a line), or neither (the catalog's releases after FROM); GOOD=/BAD= the
# known ends (default first and last), TRUST_GOOD=/TRUST_BAD=true skip verifying them;
# SWEEP=false leaves out the compatibility sweep of last good → first bad.
BUILDS ?=
IMAGE_TEMPLATE ?=
IDS ?=
GOOD ?=
BAD ?=
TRUST_GOOD ?= false
TRUST_BAD ?= false
SWEEP ?= true
SCRIPTS = $(wildcard scripts/*.sh)

# What users pass on is data, never code: every value reaches the harness as
# the literal text given (make does not expand it; $$ stands for $, as in the
# repro lines the harness prints), through the environment, and recipes quote
# it ("$$FROM"), so FROM='v0.2.0;id' is a bad release name, not a command.
USER_VARS := ARTIFACTS CATALOG CLUSTER CELL FROM TO ORDER KEEP OVERRIDES LABELS ROLLBACK REPEAT PARALLEL DIAGNOSE PROBE DRY_RUN MANIFESTS_DIR IMAGE_REMAP NODE_IMAGE E2E_TIMEOUT FUZZTIME \
  E2E_SKIP E2E_RUN JUNIT_INCONCLUSIVE CANDIDATE_MANIFESTS CANDIDATE_IMAGES CANDIDATE_NAME CANDIDATE_EXPECT CANDIDATE_WHY \
  BUILDS IMAGE_TEMPLATE IDS GOOD BAD TRUST_GOOD TRUST_BAD SWEEP
# ORDER applies to the whole matrix only when given; its default only completes FROM and TO.
ORDER_GIVEN := $(filter command environment override,$(firstword $(origin ORDER)))
literal = $(subst $$$$,$$,$(value $(1)))
$(foreach v,$(USER_VARS),$(eval override $(v) := $$(call literal,$(v))))
# The default names the checkout as an absolute path: the e2e tests run in
# tests/e2e and the CLIs they start in the checkout, and both must find it.
override ARTIFACTS := $(if $(ARTIFACTS),$(ARTIFACTS),$(CURDIR)/_artifacts)
export $(USER_VARS)
ORDER_FLAG = $(if $(or $(ORDER_GIVEN),$(and $(FROM),$(TO))),-order "$$ORDER")
# An empty -cluster is refused (it names no cluster): passed only when given.
CLUSTER_FLAG = $(if $(CLUSTER),-cluster "$$CLUSTER")
MATRIX_FLAGS = -catalog "$$CATALOG" -from "$$FROM" -to "$$TO" $(ORDER_FLAG) -overrides "$$OVERRIDES" $(CLUSTER_FLAG) \
  -dry-run="$$DRY_RUN" -junit-inconclusive "$$JUNIT_INCONCLUSIVE" \
  -manifests-dir "$$MANIFESTS_DIR" -image-remap "$$IMAGE_REMAP" -artifacts "$$ARTIFACTS" \
  -candidate-manifests "$$CANDIDATE_MANIFESTS" -candidate-images "$$CANDIDATE_IMAGES" -candidate-name "$$CANDIDATE_NAME" \
  -candidate-expect "$$CANDIDATE_EXPECT" -candidate-why "$$CANDIDATE_WHY"

UNIT_PKGS = $$($(GO) list ./... | grep -v /tests/e2e)

.PHONY: all bin engine node-image images cluster cluster-down clean-clusters unit lint-scripts fuzz fuzz-load fuzz-repro test test-e2e test-slow e2e repro diagnose bisect bench lint clean help

all: bin

help:
	@echo "make e2e          run the upgrade matrix (simulated catalog by default) and judge it"
	@echo "                  [CATALOG=] [LABELS=] [FROM=] [TO=] [ORDER=] [CELL=] [ROLLBACK=true|false] [REPEAT=] [PARALLEL=] [KEEP=] [CLUSTER=]"
	@echo "                  [DIAGNOSE=true] [PROBE=false] [DRY_RUN=true] [JUNIT_INCONCLUSIVE=failure|skipped] [OVERRIDES=]"
	@echo "                  [MANIFESTS_DIR=] [IMAGE_REMAP=] [NODE_IMAGE=] [ARTIFACTS=]"
	@echo "make e2e CANDIDATE_MANIFESTS=dir|file CANDIDATE_IMAGES='backend=…' [CANDIDATE_NAME=] [CANDIDATE_EXPECT=pass|fail CANDIDATE_WHY=] [FROM=]"
	@echo "                  cells to a PR's build (scripts/gate.sh runs this for CI)"
	@echo "make repro FROM=v0.2.0 TO=v0.2.2 [ORDER=] [ROLLBACK=true] [OVERRIDES=] [CATALOG=] [MANIFESTS_DIR=] [IMAGE_REMAP=] [CLUSTER=]"
	@echo "                  one cell, cluster kept"
	@echo "make diagnose FROM=v0.2.0 TO=v0.2.2 [CATALOG=] [KEEP=] [CLUSTER=] [DRY_RUN=true]"
	@echo "                  compatibility sweep: which component pair breaks on which call"
	@echo "make bisect FROM=v0.2.0 [BUILDS=file.yaml | IMAGE_TEMPLATE='…{component}…{id}' IDS=file] [GOOD=] [BAD=] [TRUST_GOOD=true] [TRUST_BAD=true]"
	@echo "                  [CATALOG=] [ORDER=] [PROBE=false] [SWEEP=false] [KEEP=] [CLUSTER=] [DRY_RUN=true] [ARTIFACTS=]"
	@echo "                  the first build that breaks the upgrade from FROM, in about log2(N) cells (no list: the catalog's releases after FROM)"
	@echo "make test         every test: lint-scripts, unit, fuzz (FUZZTIME=$$FUZZTIME a target), e2e on kind clusters but the Slow ones"
	@echo "make unit         go vet and the unit tests (no cluster)"
	@echo "make test-e2e     the e2e tests on kind clusters [E2E_TIMEOUT=] [E2E_RUN=] [E2E_SKIP=]"
	@echo "make test-slow    the e2e tests make test leaves out (names ending in Slow; run nightly by harness-pr.yml)"
	@echo "make fuzz         the fuzz targets side by side, FUZZTIME each: fuzz-load (catalog loader), fuzz-repro (repro lines)"
	@echo "make lint-scripts shellcheck on scripts/"
	@echo "make engine       make sure a Docker engine is up (installs one as root on Debian)"
	@echo "make images       build the simulated component images"
	@echo "make node-image   build (or reuse) the offline kind node image; NODE_IMAGE=… uses another"
	@echo "make cluster / cluster-down [CLUSTER=]   a kind cluster up or down; make clean-clusters removes every uh-* one"
	@echo "make bench        phase timings against their floors [ARTIFACTS=]"
	@echo "make bin          build bin/upgrade-harness"
	@echo "make clean        remove bin/ and the artifacts"
	@echo "bin/upgrade-harness COMMAND -h says what each command does, its flags and exit codes"

bin:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -buildvcs=false -o $(BIN)/ ./harness/cmd/...

engine: bin
	$(HARNESS) engine

node-image: bin
	$(HARNESS) node-image

images: bin engine
	$(HARNESS) images

cluster: bin
	$(HARNESS) cluster up $(if $(CLUSTER),-name "$$CLUSTER")

cluster-down: bin
	$(HARNESS) cluster down $(if $(CLUSTER),-name "$$CLUSTER")

clean-clusters: bin
	$(HARNESS) cluster clean

# go test leaves out its own vet pass: the whole of go vet just ran.
unit:
	$(GO) vet ./...
	$(GO) test -count=1 -vet=off $(UNIT_PKGS)

# Prepares engine, node image and images once (visible progress), then runs the
# e2e suite on real kind clusters: E2E_LANES (default 3) shared clusters whose
# tests run side by side, each test waiting for its lane's turn, the third lane
# after the tests with clusters of their own (the suite raises -parallel so that
# every test can wait at once; the lanes, not -parallel, bound what runs).
# The suite compiles while the images are checked (built when missing), then
# runs as go test runs it: in its package directory, verbose.
test-e2e: bin engine
	NODE_IMAGE="$${NODE_IMAGE:-$$($(HARNESS) node-image)}" && export NODE_IMAGE && \
	{ $(GO) test -c -o $(BIN)/e2e.test ./tests/e2e/ & compile=$$!; $(HARNESS) images; images=$$?; \
	  wait $$compile && [ $$images -eq 0 ]; } && \
	cd tests/e2e && $(BIN)/e2e.test -test.timeout "$$E2E_TIMEOUT" -test.run "$$E2E_RUN" -test.skip "$$E2E_SKIP" -test.v

# The e2e tests make test leaves out (their names end in Slow; over an hour on
# 2 cores): the harness's own workflow runs them every night.
test-slow:
	@$(MAKE) --no-print-directory test-e2e E2E_RUN='Slow$$' E2E_SKIP= E2E_TIMEOUT=180m

# shellcheck on the scripts/ entry points (installed from Debian when missing).
lint-scripts: bin
	"$$($(HARNESS) tool shellcheck)" $(SCRIPTS)

# Fuzz targets: `go test -fuzz` takes one target of one package a run. A new
# input is minimized for at most 1 s: with the default 60 s, minimizing the
# inputs grown from the 10 KiB catalog seeds takes the whole FUZZTIME.
FUZZ = $(GO) test -run '^$$' -fuzztime "$$FUZZTIME" -fuzzminimizetime 1s
# The two targets fuzz side by side, each for FUZZTIME with half the cores
# (its output printed whole when it ends), so make test waits FUZZTIME once.
fuzz:
	@$(MAKE) --no-print-directory -j2 --output-sync=target fuzz-load fuzz-repro

fuzz-load:
	$(FUZZ) -fuzz '^FuzzLoad$$' ./harness/catalog

fuzz-repro:
	$(FUZZ) -fuzz '^FuzzParseRepro$$' ./harness/report

test: lint-scripts unit fuzz test-e2e

# The harness checks every input before it touches the engine, the node image
# or a cluster (bad input: exit 2 within a second), so e2e and repro do not
# prepare the engine themselves. GNU make exits 2 whenever a recipe fails; the
# harness's own code (1 regression, 2 bad input, 3 infrastructure) is in the
# "Error N" line make prints and in the line run_harness adds before it.
run_harness = @set -- $(1); echo "$$(printf '%q ' "$$@")"; "$$@" || { rc=$$?; \
  echo "make $@: upgrade-harness exited $$rc ($$(case $$rc in 1) echo regression found;; 2) echo bad input;; 3) echo infrastructure failed;; *) echo unexpected;; esac))" >&2; exit $$rc; }

e2e: bin
	$(call run_harness,$(HARNESS) matrix $(MATRIX_FLAGS) -labels "$$LABELS" -cell "$$CELL" -rollback "$$ROLLBACK" -repeat "$$REPEAT" -parallel "$$PARALLEL" -keep "$$KEEP" -diagnose="$$DIAGNOSE" -probe="$$PROBE")

repro: bin
	@[ -n "$$FROM" ] && [ -n "$$TO" ] && [[ "$$FROM$$TO" != *,* ]] || { \
	  echo "usage: make repro FROM=v0.2.0 TO=v0.2.2 [ORDER=…] [CATALOG=name|file.yaml] [OVERRIDES='backend=img,…'] [MANIFESTS_DIR=…] [IMAGE_REMAP=…] [NODE_IMAGE=…] (one release each for FROM and TO)" >&2; exit 2; }
	$(call run_harness,$(HARNESS) matrix $(MATRIX_FLAGS) -rollback "$${ROLLBACK:-false}" -keep always)

diagnose: bin
	@[ -n "$$FROM" ] && [ -n "$$TO" ] && [[ "$$FROM$$TO" != *,* ]] || { \
	  echo "usage: make diagnose FROM=v0.2.0 TO=v0.2.2 [CATALOG=name|file.yaml] [KEEP=…] [MANIFESTS_DIR=…] [IMAGE_REMAP=…] [NODE_IMAGE=…] (one release each for FROM and TO)" >&2; exit 2; }
	$(call run_harness,$(HARNESS) diagnose -catalog "$$CATALOG" -from "$$FROM" -to "$$TO" -manifests-dir "$$MANIFESTS_DIR" -image-remap "$$IMAGE_REMAP" -artifacts "$$ARTIFACTS" -keep "$$KEEP" \
	  $(CLUSTER_FLAG) -dry-run="$$DRY_RUN")

bisect: bin
	@[ -n "$$FROM" ] && [[ "$$FROM" != *,* ]] || { \
	  echo "usage: make bisect FROM=v0.2.0 [BUILDS=file.yaml | IMAGE_TEMPLATE=… IDS=file] [CATALOG=name|file.yaml] [GOOD=] [BAD=] (one release for FROM)" >&2; exit 2; }
	$(call run_harness,$(HARNESS) bisect -catalog "$$CATALOG" -from "$$FROM" -builds "$$BUILDS" -image-template "$$IMAGE_TEMPLATE" -ids "$$IDS" \
	  -good "$$GOOD" -bad "$$BAD" -trust-good="$$TRUST_GOOD" -trust-bad="$$TRUST_BAD" -order "$$ORDER" -probe="$$PROBE" -sweep="$$SWEEP" \
	  -artifacts "$$ARTIFACTS" -keep "$$KEEP" $(CLUSTER_FLAG) -dry-run="$$DRY_RUN")

bench: bin
	$(call run_harness,$(HARNESS) bench -artifacts "$$ARTIFACTS")

clean:
	rm -rf $(BIN) "$$ARTIFACTS"
