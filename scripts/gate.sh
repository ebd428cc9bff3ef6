#!/usr/bin/env bash
# The platform's PR gate: the newest releases of a catalog, upgraded in place
# to a candidate release built from a platform checkout (its manifests and the
# images the PR built) while traffic flows on every caller→runner path. Any
# runner 401 or broken session fails it. The reusable workflow
# .github/workflows/platform-gate.yml runs exactly this; so can anyone, locally.
#
# usage: scripts/gate.sh -candidate-manifests DIR|FILE [-candidate-images operator=IMG,backend=IMG,runner=IMG,stateSync=IMG]
#          [-candidate-name pr-1234] [-from v0.2.6,v0.2.7] [-catalog upstream] [-order all-at-once]
#          [-candidate-expect pass|fail -candidate-why WHY] [-load-images DIR|FILE] [-artifacts DIR]
#          [other `upgrade-harness matrix` flags]
#
# At least one of -candidate-manifests and -candidate-images; unset components keep
# the newest release's images, no -candidate-manifests keeps its manifests.
# Defaults: -catalog upstream, -from the two newest releases, -keep never,
# -artifacts $ARTIFACTS or ./_artifacts. NODE_IMAGE picks the kind node image.
# Images under localhost/ are loaded into kind from the local Docker store, never pulled;
# -load-images docker-loads a `docker save` archive (or every *.tar of a directory),
# after every input was checked (upgrade-harness matrix -dry-run) and never with -dry-run.
# Writes junit.xml, summary.md, results.json and failure bundles to the artifacts
# directory and appends the summary to $GITHUB_STEP_SUMMARY when set.
# Exit codes: 0 every cell as expected, 1 regression, 2 bad input, 3 infrastructure.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

uh_help_on "${1:-}" "$0"

uh_parse_flags "$@"
if [[ -z $(uh_flag candidate-manifests) && -z $(uh_flag candidate-images) ]]; then
	uh_die "want -candidate-manifests DIR|FILE and/or -candidate-images operator=…,backend=…,runner=…,stateSync=… (see $0 -help)"
fi
if [[ -n $(uh_flag to) ]]; then
	uh_die "-to is the candidate; give -from (the releases upgraded to it) instead"
fi
archives=$(uh_flag load-images)
uh_without load-images
tars=()
if [[ -n $archives ]]; then
	[[ -e $archives ]] || uh_die "-load-images $archives does not exist (want a docker save archive or a directory of *.tar)"
	if [[ -d $archives ]]; then
		shopt -s nullglob
		tars=("$archives"/*.tar)
		shopt -u nullglob
		((${#tars[@]})) || uh_die "-load-images $archives holds no *.tar archive"
	else
		tars=("$archives")
	fi
fi

uh_default artifacts "$(uh_abs "${ARTIFACTS:-_artifacts}")"
uh_default keep never
uh_default catalog upstream
artifacts=$(uh_flag artifacts)
dry_run=$(uh_flag dry-run)
uh_build
cd "$UH_ROOT"
# Every input is checked before anything is loaded: a bad one exits 2 naming
# it, with nothing touched.
check=("${UH_FLAGS[@]}")
if [[ $dry_run != true ]]; then
	check+=(-dry-run)
fi
rc=0
"$UH_BIN" matrix "${check[@]}" >/dev/null || rc=$?
if ((rc)); then
	uh_log "the input check failed (exit $rc): nothing was loaded or run"
	exit "$rc"
fi
# Images built in another job arrive as `docker save` archives.
for t in "${tars[@]}"; do
	if [[ $dry_run == true ]]; then
		uh_log "would docker load -i $t (-dry-run)"
		continue
	fi
	uh_log "docker load -i $t"
	docker load -i "$t" >&2 || { uh_log "docker load -i $t failed (exit 3: infrastructure)"; exit 3; }
done
uh_log "upgrade-harness matrix ${UH_FLAGS[*]}"
summary() {
	if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
		printf '%s\n\n' "$*" >>"$GITHUB_STEP_SUMMARY"
	fi
}
from=$(uh_flag from) name=$(uh_flag candidate-name) catalog=$(uh_flag catalog)
summary "## Upgrade gate: ${from:-the two newest releases} → ${name:-the candidate} (catalog $catalog)"
rc=0
"$UH_BIN" matrix "${UH_FLAGS[@]}" || rc=$?
case $rc in
0) if [[ $(uh_flag dry-run) == true ]]; then
	verdict="input checked (-dry-run): nothing was run"
else
	verdict="passed: every cell gave its expected verdict"
fi ;;
1) verdict="REGRESSION: a cell did not give its expected verdict (summary.md, bundles under cells/ in the artifacts)" ;;
2) verdict="bad input (exit 2): nothing was run" ;;
*) verdict="infrastructure failed (exit $rc): no verdict" ;;
esac
uh_log "$verdict; reports in $artifacts"
summary "**Gate: $verdict.**"
exit "$rc"
