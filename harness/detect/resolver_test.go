package detect

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/tests/support/testsupport"
)

var t0 = time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)

func testPod(ns, name, app, ip string, created time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name), Labels: map[string]string{"app": app},
			CreationTimestamp: metav1.NewTime(created)},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
}

func TestResolverIPReuseOverTime(t *testing.T) {
	r := NewCallerResolver(nil)
	oldBackend := testPod("ambient-code", "backend-api-old", "backend-api", "10.244.0.7", t0)
	r.ObservePod(oldBackend)
	r.ObservePodGone(oldBackend, t0.Add(10*time.Minute))
	// Same IP handed to the new operator pod a little later.
	newOperator := testPod("ambient-code", "agentic-operator-new", "agentic-operator", "10.244.0.7", t0.Add(10*time.Minute+3*time.Second))
	r.ObservePod(newOperator)
	r.ObserveNode(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kind-control-plane"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.0.0/24", PodCIDRs: []string{"10.244.0.0/24"}},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}, {Type: corev1.NodeHostName, Address: "kind-control-plane"}}},
	})
	r.ObservePod(testPod("proj-a", "session-a-runner", "ambient-code-runner", "10.244.0.20", t0))
	r.ObservePod(testPod("ambient-code", "frontend-1", "frontend", "10.244.0.30", t0))

	tests := []struct {
		name   string
		ip     string
		at     time.Time
		caller ledger.Caller
		pod    string
	}{
		{"old backend while alive", "10.244.0.7", t0.Add(5 * time.Minute), ledger.CallerBackend, "ambient-code/backend-api-old"},
		{"old backend just before deletion", "10.244.0.7", t0.Add(10*time.Minute - time.Millisecond), ledger.CallerBackend, "ambient-code/backend-api-old"},
		{"old backend line logged just after deletion was seen", "10.244.0.7", t0.Add(10*time.Minute + time.Second), ledger.CallerBackend, "ambient-code/backend-api-old"},
		{"reused IP after", "10.244.0.7", t0.Add(20 * time.Minute), ledger.CallerOperator, "ambient-code/agentic-operator-new"},
		{"reused IP at its creation second", "10.244.0.7", t0.Add(10*time.Minute + 3*time.Second), ledger.CallerOperator, "ambient-code/agentic-operator-new"},
		{"before any holder beyond skew", "10.244.0.7", t0.Add(-time.Hour), ledger.CallerUnknown, ""},
		{"node internal IP", "172.18.0.2", t0, ledger.CallerKubelet, "node/kind-control-plane"},
		{"pod CIDR gateway", "10.244.0.1", t0, ledger.CallerKubelet, "node/kind-control-plane"},
		{"runner pod", "10.244.0.20", t0.Add(time.Minute), ledger.CallerRunner, "proj-a/session-a-runner"},
		{"other platform pod", "10.244.0.30", t0.Add(time.Minute), ledger.CallerUnknown, "ambient-code/frontend-1"},
		{"loopback is the port-forwarding harness", "127.0.0.1", t0, ledger.CallerHarness, ""},
		{"ipv4-mapped ipv6", "::ffff:10.244.0.20", t0.Add(time.Minute), ledger.CallerRunner, "proj-a/session-a-runner"},
		{"never seen", "10.244.0.99", t0, ledger.CallerUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, pod := r.Resolve(tt.ip, tt.at)
			if c != tt.caller || pod != tt.pod {
				t.Errorf("Resolve(%s, %v) = %s %q, want %s %q", tt.ip, tt.at, c, pod, tt.caller, tt.pod)
			}
		})
	}
}

func TestResolverHostNetworkPodIgnored(t *testing.T) {
	r := NewCallerResolver(nil)
	p := testPod("ambient-code", "hostnet", "backend-api", "172.18.0.2", t0)
	p.Spec.HostNetwork = true
	r.ObservePod(p)
	if c, _ := r.Resolve("172.18.0.2", t0.Add(time.Minute)); c != ledger.CallerUnknown {
		t.Errorf("host-network pod must not claim the node IP, got %s", c)
	}
}

func TestResolverFedByWatch(t *testing.T) {
	now := time.Now().UTC()
	client := fake.NewClientset(testPod("ambient-code", "backend-api-1", "backend-api", "10.244.0.7", now.Add(-time.Hour)))
	r := NewCallerResolver(newWatches(t, client, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if c, _ := r.Resolve("10.244.0.7", now); c != ledger.CallerBackend {
		t.Fatalf("listed pod not resolved: %s", c)
	}
	// The backend is recreated (Recreate strategy); the new pod gets another IP and
	// a runner later reuses the old one.
	if err := client.CoreV1().Pods("ambient-code").Delete(ctx, "backend-api-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "old backend interval closed", func() bool {
		c, _ := r.Resolve("10.244.0.7", time.Now().Add(time.Minute))
		return c == ledger.CallerUnknown
	})
	runner := testPod("proj-a", "session-b-runner", "ambient-code-runner", "10.244.0.7", time.Now().Add(30*time.Second))
	if _, err := client.CoreV1().Pods("proj-a").Create(ctx, runner, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "runner resolved", func() bool {
		c, _ := r.Resolve("10.244.0.7", time.Now().Add(time.Minute))
		return c == ledger.CallerRunner
	})
	if c, pod := r.Resolve("10.244.0.7", now); c != ledger.CallerBackend || pod != "ambient-code/backend-api-1" {
		t.Errorf("history lost: an old line must still resolve to the old backend, got %s %s", c, pod)
	}
}

// newWatches returns shared watches over the fake clients, stopped when the
// test ends (after the detectors it feeds, which the tests stop by defer).
func newWatches(t *testing.T, client kubernetes.Interface, dyn dynamic.Interface) *Watches {
	w := NewWatches(client, dyn)
	t.Cleanup(w.Stop)
	return w
}

// Identify names the caller pod's creation time: the ledger attributes the
// pod to the release deployed then (ledger.ComponentReleasedAt).
func TestIdentifyCarriesThePodsCreationTime(t *testing.T) {
	r := NewCallerResolver(nil)
	op := testPod("ambient-code", "agentic-operator-old", OperatorAppLabelValue, "10.244.0.9", t0)
	r.ObservePod(op)
	id := r.Identify("10.244.0.9", t0.Add(time.Minute))
	if id.Caller != ledger.CallerOperator || !id.Created.Equal(t0) {
		t.Errorf("Identify = %+v, want the operator pod created at %s", id, t0)
	}
}
