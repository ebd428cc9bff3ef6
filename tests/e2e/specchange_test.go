package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// refusedSpecChangesFeature: after the upgrade the backend answers every
// spec change with the real backend's conflict (500 "the object has been
// modified"). The harness retries each change as a user's client would, then
// records it as refused; the operator's spec-change families are then not
// exercised, and the cell is inconclusive (never a pass on thinner
// evidence). Its cell is the first of TestKeepOnFailure's run (k), on the
// cluster that run creates.
func refusedSpecChangesFeature(k *keepRun) features.Feature {
	return features.New("refused spec changes are retried, recorded and make the cell inconclusive").
		WithLabel("area", "spec-changes").
		WithSetup("run the keep catalog (its first cell: "+specRefusedCell+")", k.setup).
		Assess("the backend refuses every spec change after the upgrade", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			r := resultOf(t, k.out, specRefusedCell)
			t.Logf("%s: verdict %s in %s (%s)", specRefusedCell, r.Verdict, r.Duration.Round(time.Second), r.Mismatch)
			g.Expect(r.Verdict).To(Equal(verdict.Inconclusive))
			g.Expect(r.Matched).To(BeTrue(), r.Mismatch)
			refused, conflicts := 0, 0
			for _, o := range r.Ledger {
				if o.Phase != ledger.PhaseAfter {
					continue
				}
				if o.Signal == ledger.SignalSpecChangeRefused {
					refused++
				}
				if o.Signal == ledger.SignalAPI && o.Status == 500 && isSpecChangeRoute(o.Path) {
					conflicts++
				}
			}
			t.Logf("after the upgrade: %d spec changes refused for good, %d conflict answers (retries included)", refused, conflicts)
			g.Expect(refused).To(BeNumerically(">=", 1))
			// Each refused change was tried more than once before it was given up.
			g.Expect(conflicts).To(BeNumerically(">", refused))
			return ctx
		}).
		WithTeardown("delete the kept cluster", k.teardown).Feature()
}

func isSpecChangeRoute(path string) bool {
	for _, sc := range platform.SpecChanges {
		if sc.Route == path {
			return true
		}
	}
	return false
}
