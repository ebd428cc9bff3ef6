#!/usr/bin/env bash
# One cell of a catalog's matrix on a fresh kind cluster: what each job of the
# nightly workflow runs, and what a person runs to reproduce one of them.
#
# usage: scripts/run-cell.sh -cell NAME [-catalog upstream] [-artifacts DIR] [other `upgrade-harness matrix` flags]
#        scripts/run-cell.sh -from v0.2.6 -to v0.2.7 [-order all-at-once] [-rollback true] [...]
#
# -cell names exactly one cell as `upgrade-harness cells` (scripts/plan-nightly.sh)
# prints it: what each nightly job runs. -from and -to (one release each) name the
# cell with -order (default all-at-once) and -rollback (default false: the plain cell;
# true: the one that rolls back to -from).
# Defaults: -catalog upstream (the platform's real releases; -catalog simulated for
# the harness's own), -keep never, -artifacts $ARTIFACTS or ./_artifacts.
# Exit codes: 0 the cell gave its expected verdict, 1 regression, 2 bad input, 3 infrastructure.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

uh_help_on "${1:-}" "$0"

uh_parse_flags "$@"
cell=$(uh_flag cell) from=$(uh_flag from) to=$(uh_flag to)
if [[ -n $cell ]]; then
	# One job, one cell: a glob could select several.
	case $cell in
	*[\*\?\[]* | *,*) uh_die "-cell $cell: want one cell's name as cells prints it, not a pattern (e.g. -cell v0.2.0-v0.2.2)" ;;
	esac
	if [[ -n $from$to$(uh_flag order)$(uh_flag rollback) ]]; then
		uh_die "-cell $cell names the cell: give it without -from, -to, -order and -rollback"
	fi
else
	if [[ -z $from || -z $to || $from$to == *,* ]]; then
		uh_die "want -cell NAME, or -from RELEASE and -to RELEASE (one release each; see $0 -help)"
	fi
	uh_default order all-at-once
	uh_default rollback false
fi

uh_default artifacts "$(uh_abs "${ARTIFACTS:-_artifacts}")"
uh_default keep never
uh_default catalog upstream
uh_build
cd "$UH_ROOT"
exec "$UH_BIN" matrix "${UH_FLAGS[@]}"
