package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/wire"
)

// TestWireWitnessRefused: on a cluster that admits no privileged
// hostNetwork pod where the witness would run (here a namespace whose Pod
// Security level is baseline: the real API server refuses the pod), the
// witness never fails the detectors: it records one wire-unavailable entry
// naming the refusal and the fallback to the runner probe, and leaves no pod.
// What the reports make of that entry is unit-tested (harness/diagnose,
// harness/report); this is the refusal itself, from a real API server.
func TestWireWitnessRefused(t *testing.T) {
	l := onLane(laneDiagnosis)
	const ns = "uh-wire-refused"
	f := features.New("the wire witness where privileged pods are refused").
		WithLabel("area", "wire").
		Assess("one wire-unavailable line naming the refusal and the fallback, no pod left", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			target := l.target(ctx, t)
			kube := target.Kube
			_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
				Labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}}}, metav1.CreateOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			defer func() {
				_ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
			}()
			built, err := images.BuildWire(ctx, images.BuildInput{Log: os.Stderr})
			g.Expect(err).NotTo(HaveOccurred())

			l := ledger.New()
			w := wire.NewWitness(wire.WitnessInput{Kube: kube, Ledger: l, Image: built.Ref, Namespace: ns,
				LoadImage:    func(ctx context.Context) error { return target.LoadImages(ctx, built.Ref) },
				StartTimeout: 30 * time.Second, Logf: t.Logf})
			start := time.Now()
			g.Expect(w.Start(ctx)).To(Succeed(), "a refused witness must not fail the detectors")
			w.Stop()
			t.Logf("witness start and stop took %s", time.Since(start).Round(time.Millisecond))

			un := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalWireUnavailable })
			g.Expect(un).To(HaveLen(1), "%+v", l.All())
			t.Logf("ledger: %s", un[0].Detail)
			g.Expect(un[0].Detail).To(ContainSubstring("refused in " + ns))
			g.Expect(un[0].Detail).To(ContainSubstring("falls back to the runner probe"))
			g.Expect(strings.ToLower(un[0].Detail)).To(ContainSubstring("podsecurity"), "the API server's reason is kept")
			g.Expect(l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalWireRequest })).To(BeEmpty())

			pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: wire.WitnessLabel})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(BeEmpty(), "no witness pod is left in %s", ns)
			return ctx
		}).Feature()
	l.Test(t, f)
}
