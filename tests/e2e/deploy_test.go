package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

var sessionsGVR = platform.AgenticSessionGVR

// TestDeployEngine: install v0.2.0, upgrade in place to v0.2.2, reset, and an
// ordered (operator only) upgrade — each checked against the live cluster.
func TestDeployEngine(t *testing.T) {
	l := onLane(laneAfterOwn)
	var (
		target   *cluster.Target
		cat      *catalog.Catalog
		from, to *deploy.Rendered
		podUID   string
	)
	const project = "deploy-e2e"
	f := features.New("the deploy engine installs, upgrades exactly, and resets").
		WithLabel("area", "deploy").
		WithSetup("install simulated v0.2.0 and create a session as a CR", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			g := NewWithT(t)
			target, cat = l.target(ctx, t), simulatedCatalog(t)
			var err error
			to, err = deploy.RenderRelease(cat, release(t, cat, "v0.2.2"), platform.Images{})
			g.Expect(err).NotTo(HaveOccurred())
			from = deployFresh(ctx, t, target, cat, "v0.2.0")
			g.Expect(target.LoadImages(ctx, deploy.ListImages(to)...)).To(Succeed())
			cs, dyn := clientsFor(t, target)
			_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: project,
				Labels: map[string]string{"ambient-code.io/managed": "true"}}}, metav1.CreateOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			_, err = cs.CoreV1().Secrets(project).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ambient-runner-secrets"},
				StringData: map[string]string{"ANTHROPIC_API_KEY": "mock-replay-key"}}, metav1.CreateOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			_, err = session.CreateSessionCR(ctx, dyn, project, "before", session.DefaultStartSpec())
			g.Expect(err).NotTo(HaveOccurred())
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: platform.RunnerPod("before"), Namespace: project}}
			g.Expect(wait.For(conditions.New(cfg.Client().Resources()).PodRunning(pod), wait.WithTimeout(2*time.Minute), wait.WithInterval(time.Second))).
				To(Succeed(), "the v0.2.0 runner pod runs")
			podUID = string(pod.UID)
			return ctx
		}).
		Assess("an all-at-once upgrade to v0.2.2 runs exactly the v0.2.2 images and keeps the session", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			cs, dyn := clientsFor(t, target)
			plan := deploy.PlanUpgrade(from, to, nil)
			_, err := deploy.Upgrade(ctx, deploy.UpgradeInput{Config: target.Rest, Client: cs, Plan: plan, FieldManager: "upgrade-harness", Logf: t.Logf})
			g.Expect(err).NotTo(HaveOccurred())
			v022 := release(t, cat, "v0.2.2").Images
			expectDeploymentsRun(ctx, g, target, map[string]string{"agentic-operator": v022.Operator, "backend-api": v022.Backend})
			pods, err := cs.CoreV1().Pods(platform.Namespace).List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			for _, p := range pods.Items {
				for _, c := range p.Spec.Containers {
					g.Expect(deploy.SameImage(c.Image, release(t, cat, "v0.2.0").Images.Operator)).To(BeFalse(), "pod %s still runs v0.2.0", p.Name)
					g.Expect(deploy.SameImage(c.Image, release(t, cat, "v0.2.0").Images.Backend)).To(BeFalse(), "pod %s still runs v0.2.0", p.Name)
				}
			}
			_, err = dyn.Resource(sessionsGVR).Namespace(project).Get(ctx, "before", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred(), "the session CR survives the upgrade")
			p, err := cs.CoreV1().Pods(project).Get(ctx, "before-runner", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred(), "the pre-upgrade runner pod survives the upgrade")
			g.Expect(string(p.UID)).To(Equal(podUID), "the pre-upgrade runner pod is not recreated")
			return ctx
		}).
		Assess("reset leaves no platform, project or cluster-scoped object behind", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			g := NewWithT(t)
			cs, dyn := clientsFor(t, target)
			g.Expect(resetPlatform(ctx, target, t.Logf)).To(Succeed())
			gone := &corev1.NamespaceList{Items: []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: platform.Namespace}}, {ObjectMeta: metav1.ObjectMeta{Name: project}}}}
			// Reset returns once they are gone; a short wait only absorbs the watch lag.
			g.Expect(wait.For(conditions.New(cfg.Client().Resources()).ResourcesDeleted(gone), wait.WithTimeout(10*time.Second), wait.WithInterval(time.Second))).
				To(Succeed(), "namespaces %s and %s are gone", platform.Namespace, project)
			crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: deploy.ManagedLabel + "=true"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(crbs.Items).To(BeEmpty())
			crs, err := cs.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: deploy.ManagedLabel + "=true"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(crs.Items).To(BeEmpty())
			_, err = dyn.Resource(sessionsGVR).List(ctx, metav1.ListOptions{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the AgenticSession CRD is gone (err=%v)", err)
			return ctx
		}).
		Assess("an ordered upgrade of the operator only leaves the backend on v0.2.0", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			cs, _ := clientsFor(t, target)
			from = deployFresh(ctx, t, target, cat, "v0.2.0")
			plan := deploy.PlanUpgrade(from, to, []upgrade.Step{{platform.Operator}})
			_, err := deploy.Upgrade(ctx, deploy.UpgradeInput{Config: target.Rest, Client: cs, Plan: plan, FieldManager: "upgrade-harness", Logf: t.Logf})
			g.Expect(err).NotTo(HaveOccurred())
			expectDeploymentsRun(ctx, g, target, map[string]string{
				"agentic-operator": release(t, cat, "v0.2.2").Images.Operator,
				"backend-api":      release(t, cat, "v0.2.0").Images.Backend,
			})
			return ctx
		}).Feature()
	l.Test(t, f)
}

// expectDeploymentsRun checks each Deployment's rollout is complete on exactly the image.
func expectDeploymentsRun(ctx context.Context, g Gomega, target *cluster.Target, want map[string]string) {
	for name, img := range want {
		st, err := deploy.CheckRollout(ctx, target.Kube, platform.Namespace, name, img)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(st.Done()).To(BeTrue(), "%s runs %s: %s", name, img, st.String())
	}
}
