#!/usr/bin/env bash
# Bisect a nightly failure: the first build that breaks the upgrade from -from,
# on one fresh kind cluster. What the nightly workflow's bisect job runs, and
# what a person runs to repeat it.
#
# usage: scripts/bisect.sh -from v0.2.7 -image-template 'quay.io/ambient_code/vteam_{component}:{id}' -ids ids.txt [flags]
#        scripts/bisect.sh -from v0.2.7 -build-ids main-1a2b3c,main-4d5e6f,... -image-template '…' [flags]
#        scripts/bisect.sh -from v0.2.0 -builds builds.yaml [flags]
#        scripts/bisect.sh -catalog simulated -from v0.2.0          # the catalog's releases after -from
#
# -build-ids is this script's own: a comma list of build ids (oldest first),
# written to a file and passed as -ids. Every other flag is
# `upgrade-harness bisect`'s (-good, -bad, -trust-good, -trust-bad, -order,
# -dry-run, …; see bin/upgrade-harness bisect -h).
# Defaults: -catalog upstream, -keep never, -artifacts $ARTIFACTS or ./_artifacts.
# Exit codes: 0 no bad build (the known-bad one passes), 1 a first bad build (or
# range) found, 2 bad input, 3 infrastructure or no answer.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

uh_help_on "${1:-}" "$0"

uh_parse_flags "$@"
ids=$(uh_flag build-ids)
if [[ -n $ids ]]; then
	[[ -z $(uh_flag ids) ]] || uh_die "-build-ids and -ids: give the build ids once (a comma list, or a file)"
	[[ -n $(uh_flag image-template) ]] || uh_die "-build-ids needs -image-template (e.g. 'quay.io/ambient_code/vteam_{component}:{id}')"
	[[ $ids =~ ^[a-z0-9.,-]+$ ]] || uh_die "-build-ids $ids: want a comma list of build ids (lowercase letters, digits, '.' and '-')"
	uh_without build-ids
	idfile=$(mktemp "${TMPDIR:-/tmp}/uh-bisect-ids.XXXXXX")
	trap 'rm -f "$idfile"' EXIT
	tr ',' '\n' <<<"$ids" >"$idfile"
	UH_FLAGS+=("-ids=$idfile")
fi
[[ -n $(uh_flag from) ]] || uh_die "-from is required (the release every cell upgrades from; see $0 -help)"

uh_default artifacts "$(uh_abs "${ARTIFACTS:-_artifacts}")"
uh_default keep never
uh_default catalog upstream
uh_build
cd "$UH_ROOT"
"$UH_BIN" bisect "${UH_FLAGS[@]}"
