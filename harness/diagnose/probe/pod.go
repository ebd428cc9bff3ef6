package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// PodLabel marks the harness's probe pods.
const PodLabel = "upgrade-harness.ambient-e2e/runner-probe"

// PodInput configures RunPod.
type PodInput struct {
	Kube kubernetes.Interface
	// Namespace the probe pod runs in (default platform.Namespace): the runner
	// NetworkPolicy runner-allow-backend-only admits it from there.
	Namespace string
	// ServiceAccount the probe runs as (default: the backend Deployment's),
	// which may read every session's token Secret.
	ServiceAccount string
	// Image is the probe image (images.ProbeImageRef), already on the nodes.
	Image   string
	Targets []Target
	// Timeout bounds the whole run (default 90 s).
	Timeout time.Duration
	Logf    func(string, ...any)
}

// PodRun says how the probe pod went.
type PodRun struct {
	Pod            string        `json:"pod"`
	ServiceAccount string        `json:"serviceAccount"`
	Took           time.Duration `json:"took"`
}

// RunPod runs the probe once for all targets in a short-lived pod, reads its
// report lines from the pod log and deletes the pod.
func RunPod(ctx context.Context, in PodInput) ([]Report, PodRun, error) {
	start := time.Now()
	run := PodRun{}
	if in.Kube == nil || in.Image == "" || len(in.Targets) == 0 {
		return nil, run, errors.New("probe.PodInput needs Kube, Image and at least one target")
	}
	if in.Namespace == "" {
		in.Namespace = platform.Namespace
	}
	if in.Timeout <= 0 {
		in.Timeout = 90 * time.Second
	}
	logf := in.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if in.ServiceAccount == "" {
		sa, err := backendServiceAccount(ctx, in.Kube, in.Namespace)
		if err != nil {
			return nil, run, err
		}
		in.ServiceAccount = sa
	}
	run.ServiceAccount = in.ServiceAccount
	pod, err := NewPod(in)
	if err != nil {
		return nil, run, err
	}
	created, err := in.Kube.CoreV1().Pods(in.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, run, fmt.Errorf("create probe pod in %s: %w", in.Namespace, err)
	}
	run.Pod = created.Name
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		zero := int64(0)
		if err := in.Kube.CoreV1().Pods(in.Namespace).Delete(dctx, created.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			logf("delete probe pod %s/%s: %v", in.Namespace, created.Name, err)
		}
	}()
	logf("probe pod %s/%s (service account %s) probes %d runner(s)", in.Namespace, created.Name, in.ServiceAccount, len(in.Targets))

	var last *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, in.Timeout, true, func(ctx context.Context) (bool, error) {
		p, err := in.Kube.CoreV1().Pods(in.Namespace).Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil // transient; the timeout decides
		}
		last = p
		return podDone(p)
	})
	if err != nil {
		return nil, run, fmt.Errorf("probe pod %s/%s: %w (%s)", in.Namespace, created.Name, err, describe(last))
	}
	raw, err := in.Kube.CoreV1().Pods(in.Namespace).GetLogs(created.Name, &corev1.PodLogOptions{Container: ContainerName}).DoRaw(ctx)
	if err != nil {
		return nil, run, fmt.Errorf("probe pod %s/%s log: %w", in.Namespace, created.Name, err)
	}
	reports, err := Decode(strings.NewReader(string(raw)))
	run.Took = time.Since(start)
	if err != nil {
		return reports, run, fmt.Errorf("probe pod %s/%s: %w", in.Namespace, created.Name, err)
	}
	if last != nil && last.Status.Phase == corev1.PodFailed {
		return reports, run, fmt.Errorf("probe pod %s/%s failed (%s): %s", in.Namespace, created.Name, describe(last), tail(string(raw), 400))
	}
	if len(reports) != len(in.Targets) {
		return reports, run, fmt.Errorf("probe pod %s/%s reported %d of %d runners: %s", in.Namespace, created.Name, len(reports), len(in.Targets), tail(string(raw), 400))
	}
	return reports, run, nil
}

// ContainerName is the probe pod's one container.
const ContainerName = "probe"

// NewPod is the probe pod: restricted (non-root, no capabilities, read-only
// root), tiny requests, a deadline, the targets as its one argument.
func NewPod(in PodInput) (*corev1.Pod, error) {
	args, err := EncodeTargets(in.Targets)
	if err != nil {
		return nil, err
	}
	yes, no := true, false
	uid := int64(1001)
	deadline := int64(max(in.Timeout/time.Second, 30))
	zero := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "uh-runner-probe-", Namespace: in.Namespace,
			Labels: map[string]string{PodLabel: "true", "app.kubernetes.io/managed-by": "upgrade-harness"}},
		Spec: corev1.PodSpec{
			ServiceAccountName:            in.ServiceAccount,
			AutomountServiceAccountToken:  &yes,
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &deadline,
			TerminationGracePeriodSeconds: &zero,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: ContainerName, Image: in.Image, ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"-targets", args},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}},
		},
	}, nil
}

// podDone: finished (either way) is done; a container that cannot start is an error.
func podDone(p *corev1.Pod) (bool, error) {
	switch p.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return true, nil
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError":
				return false, fmt.Errorf("probe container cannot start: %s: %s (on an existing cluster the probe image must be available to its nodes)", w.Reason, w.Message)
			}
		}
	}
	return false, nil
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "pod never read"
	}
	s := "phase " + string(p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil:
			s += "; waiting " + cs.State.Waiting.Reason
		case cs.State.Terminated != nil:
			s += fmt.Sprintf("; exit %d %s", cs.State.Terminated.ExitCode, cs.State.Terminated.Reason)
		}
	}
	return s
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// backendServiceAccount is the service account of the backend Deployment.
func backendServiceAccount(ctx context.Context, kube kubernetes.Interface, ns string) (string, error) {
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, platform.BackendDeployment, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("probe: read Deployment %s/%s for its service account: %w", ns, platform.BackendDeployment, err)
	}
	if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "" {
		return sa, nil
	}
	return "default", nil
}
