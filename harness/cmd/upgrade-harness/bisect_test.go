package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

// TestBisectRefusesBadInputBeforeAnything: a bad build list, release or end
// is exit 2 naming file:line: field (or the flag), the value and what is
// valid, with no tool called and nothing written; a good one's -dry-run
// prints the plan and its cost, and a real run reaches the engine step.
func TestBisectRefusesBadInputBeforeAnything(t *testing.T) {
	bin := filepath.Join(binDir, "upgrade-harness")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badBuilds := write("bad.yaml", "builds:\n  - name: b1\n    images:\n      backend: quay.io/x/y\n  - name: B_2\n    images: {backend: quay.io/x/y:2}\n")
	goodBuilds := write("good.yaml", "builds:\n  - name: b1\n    images: {backend: localhost/ambient-sim/vteam_backend:v0.2.7}\n"+
		"  - name: b2\n    images: {backend: localhost/ambient-sim/vteam_backend:v0.2.7-fault-header-name}\n")
	ids := write("ids.txt", "main-1\nMain 2\n")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-from", "v0.2.0", "-builds", badBuilds}, []string{badBuilds + `:4: builds[0].images.backend: "quay.io/x/y" has neither tag nor digest`,
			badBuilds + `:5: builds[1].name: "B_2" is not a valid build name (want at most 63 lowercase`}},
		{[]string{"-from", "v9.9.9"}, []string{`-from "v9.9.9": not a release of catalog simulated (want one of v0.2.0,`}},
		{[]string{}, []string{"-from is required"}},
		{[]string{"-from", "v0.2.6"}, []string{"has 1 release(s) after it (want at least 2"}},
		{[]string{"-from", "v0.2.0", "-good", "v0.2.9"}, []string{`-good "v0.2.9": not one of the builds (want one of v0.2.1, v0.2.2`}},
		{[]string{"-from", "v0.2.0", "-good", "v0.2.6", "-bad", "v0.2.2"}, []string{"the known-good build must come before the known-bad one"}},
		{[]string{"-from", "v0.2.0", "-ids", ids}, []string{"-ids " + ids + " needs -image-template"}},
		{[]string{"-from", "v0.2.0", "-image-template", "quay.io/ambient_code/vteam_{component}:{id}", "-ids", ids},
			[]string{ids + `:2: id: "Main 2" is not a valid build id`}},
		{[]string{"-from", "v0.2.0", "-builds", filepath.Join(dir, "missing.yaml")}, []string{"-builds " + filepath.Join(dir, "missing.yaml") + " does not exist"}},
		{[]string{"-from", "v0.2.0", "-builds", "/dev/zero"}, []string{"-builds /dev/zero is a character device"}},
		{[]string{"-from", "v0.2.0", "-order", "sideways"}, []string{"-order"}},
		{[]string{"-from", "v0.2.0", "-trust-good=maybe"}, []string{`invalid boolean value "maybe" for -trust-good`}},
	} {
		sb := newSandbox(t)
		r := run(t, sb.env(fakeBin), repoRoot, bin, append([]string{"bisect"}, tc.args...)...)
		if r.code != exitcode.BadInput {
			t.Errorf("bisect %q: exit %d, want 2\nstderr: %s", tc.args, r.code, r.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("bisect %q: stderr does not say %q:\n%s", tc.args, w, r.stderr)
			}
		}
		if fx := sb.sideEffects(t); len(fx) > 0 {
			t.Errorf("bisect %q: side effects %v", tc.args, fx)
		}
	}

	sb := newSandbox(t)
	r := run(t, sb.env(fakeBin), repoRoot, bin, "bisect", "-from", "v0.2.0", "-dry-run")
	for _, w := range []string{"bisect from v0.2.0 (catalog simulated) over 5 builds", "good (verified first)", "worst case: 4 cells (2 verification(s) + ⌈log2 4⌉ = 2 halving steps",
		"a linear scan would run up to 5", "estimate: up to 12m30s (4 cells × 2m0s, default 2m0s a cell"} {
		if r.code != 0 || !strings.Contains(r.stdout, w) {
			t.Errorf("bisect -dry-run: exit %d, stdout lacks %q:\n%s%s", r.code, w, r.stdout, r.stderr)
		}
	}
	if fx := sb.sideEffects(t); len(fx) > 0 {
		t.Errorf("bisect -dry-run: side effects %v", fx)
	}
	sb = newSandbox(t)
	r = run(t, sb.env(fakeBin), repoRoot, bin, "bisect", "-from", "v0.2.7", "-builds", goodBuilds, "-trust-good", "-trust-bad")
	if r.code != exitcode.Infrastructure || len(sb.sideEffects(t)) == 0 {
		t.Errorf("a valid bisect: exit %d, side effects %v; want it to reach the engine step (exit 3 with the stand-ins)\n%s", r.code, sb.sideEffects(t), r.stderr)
	}
}
