#!/usr/bin/env bash
# One cell of a catalog's matrix on a fresh kind cluster: what each job of the
# nightly workflow runs, and what a person runs to reproduce one of them.
#
# usage: scripts/run-cell.sh -from v0.2.6 -to v0.2.7 [-order all-at-once] [-catalog upstream]
#          [-artifacts DIR] [other `upgrade-harness matrix` flags, e.g. -keep on-failure]
#
# Defaults: -catalog upstream (the platform's real releases; -catalog simulated for
# the harness's own), -order all-at-once, -keep never, -artifacts $ARTIFACTS or ./_artifacts.
# Exit codes: 0 the cell gave its expected verdict, 1 regression, 2 bad input, 3 infrastructure.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

uh_help_on "${1:-}" "$0"

uh_parse_flags "$@"
if [[ -z $(uh_flag from) || -z $(uh_flag to) ]]; then
	uh_die "want -from RELEASE and -to RELEASE (one cell; see $0 -help)"
fi

uh_default artifacts "$(uh_abs "${ARTIFACTS:-_artifacts}")"
uh_default keep never
uh_default order all-at-once
uh_default catalog upstream
uh_build
cd "$UH_ROOT"
exec "$UH_BIN" matrix "${UH_FLAGS[@]}"
