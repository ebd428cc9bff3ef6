package main

import (
	"context"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

// Bad candidate flags stop matrix and cells with exit 2 and the catalog's
// messages before any engine, image or cluster work (the engine step would
// fail or take minutes here, so reaching it shows as a different error).
func TestCandidateFlagsAreBadInputBeforeAnySideEffect(t *testing.T) {
	dir := "../../../fixtures/releases"
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-candidate-images", "operator=localhost/pr/op::1", "-candidate-manifests", "no/such/overlay"},
			[]string{`-candidate-images.operator: "localhost/pr/op::1" is not a valid image reference`, `-candidate-manifests: "no/such/overlay" does not exist`}},
		{[]string{"-candidate-images", "backend=localhost/pr/be:pr-1", "-from", "v0.2.0,v9.9.9"},
			[]string{`-from: "v9.9.9" is not a release of this catalog`}},
		{[]string{"-candidate-images", "backend=localhost/pr/be:pr-1", "-candidate-name", "pr-1", "-to", "v0.2.3"},
			[]string{`-to "v0.2.3": with a candidate every cell goes to it`}},
		{[]string{"-candidate-images", "frontend=localhost/pr/fe:pr-1"},
			[]string{`-candidate-images: override "frontend=localhost/pr/fe:pr-1"`}},
		{[]string{"-candidate-name", "pr-1"},
			[]string{"need -candidate-manifests or -candidate-images"}},
		{[]string{"-candidate-images", "backend=localhost/pr/be:pr-1", "-candidate-expect", "fail"},
			[]string{"-candidate-why: is required when a failure is expected"}},
	}
	for _, cmd := range []struct {
		name string
		run  func(context.Context, []string) error
	}{{"matrix", runMatrix}, {"cells", runCells}} {
		for _, c := range cases {
			err := cmd.run(context.Background(), append([]string{"-catalog-dir", dir}, c.args...))
			if exitcode.Of(err) != exitcode.BadInput {
				t.Errorf("%s %v: exit %d (%v), want %d", cmd.name, c.args, exitcode.Of(err), err, exitcode.BadInput)
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s %v: error %q lacks %q", cmd.name, c.args, err, w)
				}
			}
		}
	}
}
