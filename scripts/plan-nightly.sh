#!/usr/bin/env bash
# The nightly's plan: the selected cells of a catalog as a JSON list (name, from,
# to, order, rollback, expect, labels), one nightly job each: scripts/run-cell.sh
# -cell NAME runs exactly that cell.
#
# usage: scripts/plan-nightly.sh [-catalog upstream] [-labels nightly,ci]
#
# Default catalog: upstream, the platform's real releases; -catalog simulated plans
# the harness's own. Prints the JSON; with $GITHUB_OUTPUT set it also writes
# cells=<json> there for the workflow's matrix.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

uh_help_on "${1:-}" "$0"

uh_parse_flags "$@"
uh_default catalog upstream
uh_build
cd "$UH_ROOT"
cells=$("$UH_BIN" cells "${UH_FLAGS[@]}")
printf '%s\n' "$cells"
if [[ -n ${GITHUB_OUTPUT:-} ]]; then
	printf 'cells=%s\n' "$cells" >>"$GITHUB_OUTPUT"
fi
uh_log "$(printf '%s' "$cells" | grep -o '"name":' | wc -l) cell(s) planned"
