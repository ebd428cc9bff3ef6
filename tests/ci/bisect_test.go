package ci

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestNightlyBisectJobRunsTheScript: the nightly's bisect job passes its
// inputs to scripts/bisect.sh, and the script, run as the job runs it, plans
// the builds (-dry-run) without touching the machine; bad ids are exit 2.
func TestNightlyBisectJobRunsTheScript(t *testing.T) {
	wf, err := os.ReadFile(root + "/.github/workflows/nightly.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"bisect_builds:", "bisect_from:", "bisect_template:", "if: ${{ inputs.bisect_builds }}",
		`scripts/bisect.sh -catalog "$CATALOG" -from "$FROM" -image-template "$TEMPLATE" -build-ids "$BUILD_IDS"`} {
		if !strings.Contains(string(wf), w) {
			t.Errorf("nightly.yml lacks %q", w)
		}
	}
	env, calls := recorder(t)
	code, out, errOut := runScript(t, env, "bisect.sh", "-catalog", "simulated", "-from", "v0.2.7",
		"-image-template", "localhost/ambient-sim/vteam_{component}:{id}", "-build-ids", "v0.2.7-fault-header-name,v0.2.7-fault-operator-key,v0.2.7-fault-health-auth", "-dry-run")
	if code != 0 || !regexp.MustCompile(`bisect from v0.2.7 \(catalog simulated\) over 3 builds`).MatchString(out) || !strings.Contains(out, "worst case: 3 cells") {
		t.Errorf("bisect.sh -dry-run: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if b, err := os.ReadFile(calls); err == nil {
		t.Errorf("bisect.sh -dry-run touched the machine: %s", b)
	}
	for _, args := range [][]string{
		{"-from", "v0.2.7", "-build-ids", "a,b"},
		{"-from", "v0.2.7", "-image-template", "q/x_{component}:{id}", "-build-ids", "a;rm -rf /,b"},
		{"-image-template", "q/x_{component}:{id}", "-build-ids", "a,b"},
	} {
		if code, _, errOut := runScript(t, env, "bisect.sh", args...); code != 2 || !strings.Contains(errOut, "[bisect]") {
			t.Errorf("bisect.sh %q: exit %d, want 2 with a [bisect] message\n%s", args, code, errOut)
		}
	}
}
