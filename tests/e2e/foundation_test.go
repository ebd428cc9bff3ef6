package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
)

// foundationWait bounds each wait on the echo Deployment and the client pod
// (image already loaded: they only schedule and start).
const foundationWait = 2 * time.Minute

// TestFoundation: a cluster raised from nothing runs a locally built image,
// serves it through a Service reached by cluster DNS from another pod, and
// leaves no container behind when it is torn down.
func TestFoundation(t *testing.T) {
	l := onOwnClusters()
	const ns = "foundation"
	var (
		c     *cluster.Cluster
		cs    kubernetes.Interface
		res   *resources.Resources
		image string
	)
	f := features.New("a kind cluster from the offline node image runs local images and cluster DNS").
		WithLabel("area", "foundation").
		WithSetup("create a dedicated cluster and load a locally built image", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			var err error
			image, err = buildEchoImage(ctx, t)
			g.Expect(err).NotTo(HaveOccurred())
			c, err = suite.NewCluster(ctx, cluster.Name("foundation"))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(c.LoadImages(ctx, image)).To(Succeed())
			cs, err = kubernetes.NewForConfig(c.KubernetesRestConfig())
			g.Expect(err).NotTo(HaveOccurred())
			res, err = resources.New(c.KubernetesRestConfig())
			g.Expect(err).NotTo(HaveOccurred())
			return ctx
		}).
		Assess("the echo Deployment becomes available from the loaded image", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			labels := map[string]string{"app": "echo"}
			one := int32(1)
			_, err = cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "echo"},
				Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
						Containers: []corev1.Container{{Name: "echo", Image: image, ImagePullPolicy: corev1.PullNever, Args: []string{"serve"},
							Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}},
			}, metav1.CreateOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "echo"},
				Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
			}, metav1.CreateOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			echo := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns}}
			available := func(o k8s.Object) int32 { return o.(*appsv1.Deployment).Status.AvailableReplicas }
			g.Expect(wait.For(conditions.New(res).ResourceScaled(echo, available, 1), wait.WithContext(ctx),
				wait.WithTimeout(foundationWait), wait.WithInterval(time.Second))).To(Succeed(), "the echo Deployment has 1 available replica")
			return ctx
		}).
		Assess("a second pod reaches it through its cluster DNS name", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "client"},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{{
					Name: "client", Image: image, ImagePullPolicy: corev1.PullNever,
					Args: []string{"get", "http://echo." + ns + ".svc.cluster.local/"}}}},
			}, metav1.CreateOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			client := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: ns}}
			// ResourceMatch, not PodPhaseMatch: a failed Get is retried, not the end of the wait.
			succeeded := func(o k8s.Object) bool { return o.(*corev1.Pod).Status.Phase == corev1.PodSucceeded }
			g.Expect(wait.For(conditions.New(res).ResourceMatch(client, succeeded), wait.WithContext(ctx),
				wait.WithTimeout(foundationWait), wait.WithInterval(time.Second))).To(Succeed(), "the client pod succeeds")
			raw, err := cs.CoreV1().Pods(ns).GetLogs("client", &corev1.PodLogOptions{}).DoRaw(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(raw)).To(MatchRegexp(`^200 hello from echo-`), "the client pod's answer from the Service")
			return ctx
		}).
		Assess("after teardown no container of that cluster remains", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			before, err := cluster.ContainersOf(ctx, c.Name())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(before).NotTo(BeEmpty(), "the cluster's node container exists before teardown")
			g.Expect(c.Destroy(ctx)).To(Succeed())
			after, err := cluster.ContainersOf(ctx, c.Name())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(after).To(BeEmpty())
			names, err := cluster.ListHarnessClusters()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(names).NotTo(ContainElement(c.Name()))
			c = nil
			return ctx
		}).
		WithTeardown("delete the cluster if an assessment failed before teardown", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if c != nil {
				_ = c.Destroy(ctx)
			}
			return ctx
		}).Feature()
	l.Test(t, f)
}

// buildEchoImage compiles fixtures/images/echo and imports it as a local image.
func buildEchoImage(ctx context.Context, t *testing.T) (string, error) {
	dir := t.TempDir()
	if err := prepare.BuildTools(ctx, dir, "./fixtures/images/echo"); err != nil {
		return "", err
	}
	bin, err := os.ReadFile(filepath.Join(dir, "echo"))
	if err != nil {
		return "", err
	}
	ref := fmt.Sprintf("localhost/upgrade-harness/echo:e2e-%d", time.Now().Unix()%100000)
	err = images.ImportRootFS(ctx, images.ImportInput{
		Ref:        ref,
		Files:      []images.File{{Path: "/usr/local/bin/echo", Mode: 0o755, Data: bin}},
		Entrypoint: []string{"/usr/local/bin/echo"},
	})
	return ref, err
}
