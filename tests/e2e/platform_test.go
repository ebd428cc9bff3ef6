package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/detect"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
)

const signalTimeout = 90 * time.Second

// TestSimulatedReleases: the simulated v0.2.0 runs sessions end to end; a
// fresh simulated v0.2.2 shows the signals production showed (docs/platform.md §8).
func TestSimulatedReleases(t *testing.T) {
	l := onLane(laneDiagnosis)
	var target *cluster.Target
	f := features.New("simulated releases reproduce the runner-auth contract").
		WithLabel("area", "platform").
		WithSetup("use the shared cluster", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			target = l.target(ctx, t)
			return ctx
		}).
		Assess("v0.2.0: a session created through the backend API runs and its initial prompt run succeeds", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			deployFresh(ctx, t, target, simulatedCatalog(t), "v0.2.0")
			l := observe(ctx, t, target)
			api := backend(ctx, t, target, l)
			g.Expect(session.PrepareProject(ctx, session.PrepareProjectInput{Client: api, Project: "sim-v020"})).To(Succeed())
			ref, err := session.StartSession(ctx, session.StartSessionInput{Client: api, Ledger: l, Project: "sim-v020", Role: ledger.RolePreUpgrade})
			g.Expect(err).NotTo(HaveOccurred())
			watchEvents(ctx, t, api, l, ref)
			g.Eventually(ledgerHas(l, and(inSession(ref.Project, ref.Name), signal(ledger.SignalRunEvent), detailContains("RUN_FINISHED")))).
				WithTimeout(signalTimeout).Should(Not(BeEmpty()), "the INITIAL_PROMPT run finishes")
			g.Consistently(ledgerHas(l, signal(ledger.SignalRunner401))).WithTimeout(5*time.Second).Should(BeEmpty(), "no 401 at v0.2.0")
			if t.Failed() {
				dumpLedger(t, l.All())
			}
			return ctx
		}).
		Assess("v0.2.2: a new session shows the #1425 signals in logs, events and status", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			cs, _ := clientsFor(t, target)
			deployFresh(ctx, t, target, simulatedCatalog(t), "v0.2.2")
			l := observe(ctx, t, target)
			api := backend(ctx, t, target, l)
			g.Expect(session.PrepareProject(ctx, session.PrepareProjectInput{Client: api, Project: "sim-v022"})).To(Succeed())
			ref, err := session.StartSession(ctx, session.StartSessionInput{Client: api, Ledger: l, Project: "sim-v022", Role: ledger.RolePostUpgrade})
			g.Expect(err).NotTo(HaveOccurred())
			watchEvents(ctx, t, api, l, ref)
			defer func() {
				if t.Failed() {
					dumpLedger(t, l.All())
				}
			}()
			mine := inSession(ref.Project, ref.Name)

			// §8.1: auth enabled, then backend POST / and GET /events answered 401.
			g.Eventually(ledgerHas(l, and(mine, signal(ledger.SignalRunnerAuthEnabled)))).WithTimeout(signalTimeout).ShouldNot(BeEmpty())
			for _, path := range []string{"/", "/events"} {
				g.Eventually(ledgerHas(l, and(mine, signal(ledger.SignalRunner401), caller(ledger.CallerBackend), pathIs(path)))).
					WithTimeout(signalTimeout).ShouldNot(BeEmpty(), "backend → runner %s answered 401", path)
			}
			// §8.2: the backend's own log lines.
			g.Eventually(ledgerHas(l, signal(ledger.SignalBackendProxy401))).WithTimeout(signalTimeout).ShouldNot(BeEmpty())
			g.Eventually(ledgerHas(l, and(signal(ledger.SignalBackendListener401)))).WithTimeout(signalTimeout).ShouldNot(BeEmpty())
			// §8.3: RUN_ERROR "Runner error: HTTP 401" on the session's event stream.
			g.Eventually(ledgerHas(l, and(mine, signal(ledger.SignalRunError401)))).WithTimeout(signalTimeout).ShouldNot(BeEmpty())

			// §8.5 and §8.6: a spec change makes the operator call /workflow without the token.
			res := api.SelectWorkflow(ctx, ref, session.Workflow{GitURL: session.ExampleWorkflowURL, Branch: session.DefaultBranch, Path: "workflows/changed"})
			g.Expect(res.Err).NotTo(HaveOccurred())
			g.Eventually(ledgerHas(l, and(mine, signal(ledger.SignalRunner401), caller(ledger.CallerOperator), pathIs("/workflow")))).
				WithTimeout(signalTimeout).ShouldNot(BeEmpty(), "operator → runner POST /workflow answered 401")
			g.Eventually(ledgerHas(l, signal(ledger.SignalOperatorWorkflow401))).WithTimeout(signalTimeout).ShouldNot(BeEmpty())
			g.Eventually(ledgerHas(l, and(mine, signal(ledger.SignalCondition), detailContains("WorkflowReconciled=False UpdateFailed: Runner returned 401")))).
				WithTimeout(signalTimeout).ShouldNot(BeEmpty())

			// §8.7: the new session's Secret holds k8s-token and a 36-character agui-token.
			sec, err := cs.CoreV1().Secrets(ref.Project).Get(ctx, "ambient-runner-token-"+ref.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sec.Data).To(HaveKey("k8s-token"))
			g.Expect(sec.Data).To(HaveKey("agui-token"))
			g.Expect(sec.Data["agui-token"]).To(HaveLen(36))
			return ctx
		}).Feature()
	l.Test(t, f)
}

// watchEvents reads the session's agui/events stream into the ledger until the test ends.
func watchEvents(ctx context.Context, t *testing.T, api *session.Client, l *ledger.Ledger, ref session.SessionRef) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			body, err := api.Events(ctx, ref)
			if err == nil {
				_ = detect.ObserveEventStream(ctx, body, ref.Project, ref.Name, l)
				body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
}

func caller(c ledger.Caller) func(ledger.Observation) bool {
	return func(o ledger.Observation) bool { return o.Caller == c }
}

func pathIs(p string) func(ledger.Observation) bool {
	return func(o ledger.Observation) bool { return o.Path == p }
}
