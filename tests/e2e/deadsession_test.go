package e2e

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
)

// TestDeadSessionEndsTheWait runs a runner image without /bin/sh under the
// simulated operator's PostStart hook (docs/platform.md §10 item 1), on the shared
// cluster: the kubelet kills the runner, the operator sets the session
// Completed / "Runner finished" and deletes the pod, and the harness's wait for
// Running ends then, naming the hook failure from the pod's events, instead of
// waiting out its timeout.
func TestDeadSessionEndsTheWait(t *testing.T) {
	l := onLane(laneCells)
	f := features.New("a session whose runner cannot start ends the wait with the reason").
		WithLabel("area", "platform").
		Assess("a runner image without a shell: Completed within seconds, FailedPostStartHook named", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			target := l.target(ctx, t)
			built, err := images.BuildSimulated(ctx, images.BuildInput{Releases: []string{"v0.2.7"},
				Components: []images.Component{images.ComponentRunner}, WithoutShell: true, Log: os.Stderr})
			g.Expect(err).NotTo(HaveOccurred())
			cat := simulatedCatalog(t)
			rendered, err := deploy.RenderRelease(cat, release(t, cat, "v0.2.7"), platform.Images{Runner: built[0].Ref})
			g.Expect(err).NotTo(HaveOccurred())
			installFresh(ctx, t, target, rendered)

			api := backend(ctx, t, target, ledger.New())
			g.Expect(session.PrepareProject(ctx, session.PrepareProjectInput{Client: api, Project: "sim-noshell"})).To(Succeed())
			const timeout = 3 * time.Minute
			start := time.Now()
			ref, err := session.StartSession(ctx, session.StartSessionInput{Client: api, Project: "sim-noshell", Timeout: timeout})
			ended := time.Now()
			t.Logf("StartSession after %s: %v", ended.Sub(start).Round(100*time.Millisecond), err)

			var dead *session.DeadSessionError
			g.Expect(errors.As(err, &dead)).To(BeTrue(), "want a dead session, got %v", err)
			g.Expect(dead.Phase).To(Equal(session.PhaseCompleted))
			g.Expect(err.Error()).To(ContainSubstring(`Runner finished`))
			g.Expect(err.Error()).To(ContainSubstring("runner container killed: FailedPostStartHook"))
			g.Expect(err.Error()).To(ContainSubstring("Killing"))
			// Not the timeout: the wait ended with the session, far from its 3 minutes.
			g.Expect(ended.Sub(start)).To(BeNumerically("<", timeout/3))

			cs, dyn := clientsFor(t, target)
			obj, err := dyn.Resource(platform.AgenticSessionGVR).Namespace(ref.Project).Get(ctx, ref.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			completed, _, _ := unstructured.NestedString(obj.Object, "status", "completionTime")
			if at, err := time.Parse(time.RFC3339, completed); err == nil {
				// completionTime has second precision.
				t.Logf("the wait ended %s after the operator's completionTime %s", ended.Sub(at).Round(100*time.Millisecond), completed)
			}
			// The operator deletes the runner pod of a finished session (its sidecar may take a while to stop).
			if pod, err := cs.CoreV1().Pods(ref.Project).Get(ctx, session.RunnerPodName(ref.Name), metav1.GetOptions{}); err == nil {
				g.Expect(pod.DeletionTimestamp).NotTo(BeNil(), "the runner pod of a finished session is not being deleted")
			}
			return ctx
		}).
		WithTeardown("leave the shared cluster clean", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			_ = resetPlatform(ctx, l.target(ctx, t), t.Logf)
			return ctx
		}).Feature()
	l.Test(t, f)
}
