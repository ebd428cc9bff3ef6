package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ambient-e2e/upgrade-harness/harness/detect"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// pipeLogs serves each witness pod's log as a pipe the test writes to.
type pipeLogs struct {
	mu    sync.Mutex
	pipes map[string]*io.PipeWriter
	opens chan string
}

func newPipeLogs() *pipeLogs {
	return &pipeLogs{pipes: map[string]*io.PipeWriter{}, opens: make(chan string, 8)}
}

func (p *pipeLogs) OpenLog(ctx context.Context, ns, pod string, _ corev1.PodLogOptions) (io.ReadCloser, error) {
	r, w := io.Pipe()
	p.mu.Lock()
	p.pipes[pod] = w
	p.mu.Unlock()
	context.AfterFunc(ctx, func() { w.CloseWithError(ctx.Err()) })
	p.opens <- pod
	return r, nil
}

func (p *pipeLogs) write(t *testing.T, pod string, lines ...any) {
	t.Helper()
	p.mu.Lock()
	w := p.pipes[pod]
	p.mu.Unlock()
	for _, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			t.Fatal(err)
		}
	}
}

func (p *pipeLogs) close(pod string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.pipes[pod]; w != nil {
		w.Close()
	}
}

var node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "uh-control-plane"}}

func resolverWithPods(t *testing.T) *detect.CallerResolver {
	r := detect.NewCallerResolver(nil)
	for _, p := range []struct{ ns, name, app, ip string }{
		{"ambient-code", "backend-api-1", "backend-api", "10.244.0.5"},
		{"proj-a", "sess-a-runner", "ambient-code-runner", "10.244.0.9"},
	} {
		r.ObservePod(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.name, UID: types.UID(p.name), Labels: map[string]string{"app": p.app},
				CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "ambient-code-runner", Image: "img/" + p.app}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: p.ip},
		})
	}
	return r
}

// runPods marks every witness pod's container as running (the kubelet's part).
func runPods(t *testing.T, kube *fake.Clientset, state corev1.ContainerState) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		pods, _ := kube.CoreV1().Pods(DefaultWitnessNamespace).List(context.Background(), metav1.ListOptions{})
		if len(pods.Items) == 1 {
			p := pods.Items[0]
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: WitnessContainer, State: state}}
			if _, err := kube.CoreV1().Pods(DefaultWitnessNamespace).UpdateStatus(context.Background(), &p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			return p.Name
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no witness pod was created")
	return ""
}

func testWitness(kube *fake.Clientset, l *ledger.Ledger, r *detect.CallerResolver, logs detect.LogOpener, logf func(string, ...any)) *Witness {
	return NewWitness(WitnessInput{Kube: kube, Ledger: l, Resolver: r, Image: "localhost/ambient-sim/uh_wire_witness:v1", Logs: logs,
		StartTimeout: 3 * time.Second, StopTimeout: 2 * time.Second, PollInterval: 10 * time.Millisecond,
		AttributionTries: 1, Logf: logf})
}

func TestWitnessRecordsRequestsIntoTheLedger(t *testing.T) {
	kube := fake.NewClientset(node)
	logs := newPipeLogs()
	l := ledger.New()
	var logged []string
	var mu sync.Mutex
	w := testWitness(kube, l, resolverWithPods(t), logs, func(f string, a ...any) {
		mu.Lock()
		logged = append(logged, fmt.Sprintf(f, a...))
		mu.Unlock()
	})
	// The pod's deletion is SIGTERM: the capture prints its last lines and exits.
	var podName string
	kube.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		logs.write(t, podName, Stats{Kind: KindStats, Time: t0.Add(time.Minute), Packets: 12, Requests: 1, Responses: 1, CPUSeconds: 0.02, MaxRSSBytes: 8 << 20})
		logs.close(podName)
		return false, nil, nil
	})
	started := make(chan error, 1)
	go func() { started <- w.Start(context.Background()) }()
	podName = runPods(t, kube, corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})
	<-logs.opens
	logs.write(t, podName, Ready{Kind: KindReady, Time: t0, Port: 8001})
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	req := Request{Kind: KindRequest, Time: t0.Add(time.Second), Src: "10.244.0.5:41234", Dst: "10.96.14.7:8001",
		ServerIPs: []string{"10.96.14.7", "10.244.0.9"}, Method: "POST", Path: "/", Status: 401,
		HeaderNames:  []string{"Host", "X-Ambient-Token", "Content-Length"},
		TokenHeaders: []TokenHeader{{Name: "X-Ambient-Token", Fingerprint: secrets.Fingerprint(secretToken)}}}
	logs.write(t, podName, req)
	deadline := time.Now().Add(3 * time.Second)
	for len(l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalWireRequest })) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	w.Stop()

	got := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalWireRequest })
	if len(got) != 1 {
		t.Fatalf("%d wire observations, want 1: %+v", len(got), l.All())
	}
	o := got[0]
	if o.Caller != ledger.CallerBackend || o.CallerPod != "ambient-code/backend-api-1" || o.RunnerPod != "proj-a/sess-a-runner" ||
		o.Namespace != "proj-a" || o.Session != "sess-a" || o.Status != 401 || o.Path != "/" || o.Source != "wire-witness:uh-control-plane" {
		t.Errorf("observation %+v", o)
	}
	if o.Wire == nil || o.Wire.SrcIP != "10.244.0.5" || o.Wire.DstIP != "10.244.0.9" || len(o.Wire.TokenHeaders) != 1 ||
		o.Wire.TokenHeaders[0].Name != "X-Ambient-Token" || o.Wire.TokenHeaders[0].Fingerprint != secrets.Fingerprint(secretToken) {
		t.Errorf("wire %+v: want the runner pod's IP (not the ClusterIP) and the fingerprint", o.Wire)
	}
	if len(l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalWireUnavailable })) != 0 {
		t.Errorf("a witness that ran is recorded unavailable: %+v", l.All())
	}
	st := w.Stats()
	if len(st) != 1 || st[0].Requests != 1 || st[0].Stats == nil || st[0].Stats.Packets != 12 {
		t.Errorf("stats %+v, want the last stats line read after SIGTERM", st)
	}
	mu.Lock()
	all := strings.Join(logged, "\n")
	mu.Unlock()
	if !strings.Contains(all, "wire witness on uh-control-plane: 1 requests captured") || !strings.Contains(all, "cpu 0.02 s") {
		t.Errorf("log lacks the summary:\n%s", all)
	}
}

func TestWitnessUnavailableIsRecordedAndTheCellGoesOn(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "uh-wire-witness-x",
		errors.New(`violates PodSecurity "baseline:latest": privileged`))
	for _, tc := range []struct {
		name  string
		setup func(kube *fake.Clientset, in *WitnessInput)
		// run plays the kubelet; nil: no pod to run.
		state *corev1.ContainerState
		want  string
	}{
		{name: "privileged pods refused", want: "privileged hostNetwork pod refused in kube-system",
			setup: func(kube *fake.Clientset, _ *WitnessInput) {
				kube.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, forbidden })
			}},
		{name: "image not loadable", want: "could not be loaded onto the nodes",
			setup: func(_ *fake.Clientset, in *WitnessInput) {
				in.LoadImage = func(context.Context) error { return errors.New("image is not in the local Docker engine") }
			}},
		{name: "image not on the node", want: "ErrImagePull",
			state: &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "pull access denied"}}},
		{name: "capture fails at once", want: "the capture failed: AF_PACKET socket",
			state: &corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kube := fake.NewClientset(node)
			logs := newPipeLogs()
			l := ledger.New()
			in := WitnessInput{Kube: kube, Ledger: l, Image: "img", Logs: logs, StartTimeout: 3 * time.Second, StopTimeout: time.Second, PollInterval: 10 * time.Millisecond}
			if tc.setup != nil {
				tc.setup(kube, &in)
			}
			w := NewWitness(in)
			started := make(chan error, 1)
			go func() { started <- w.Start(context.Background()) }()
			if tc.state != nil {
				pod := runPods(t, kube, *tc.state)
				if tc.state.Running != nil {
					<-logs.opens
					logs.write(t, pod, Error{Kind: KindError, Time: t0, Message: "AF_PACKET socket: operation not permitted"})
					logs.close(pod)
				}
			}
			if err := <-started; err != nil {
				t.Fatalf("Start failed the detectors: %v", err)
			}
			w.Stop()
			un := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalWireUnavailable })
			if len(un) != 1 || !strings.Contains(un[0].Detail, tc.want) || !strings.Contains(un[0].Detail, "falls back to the runner probe") || un[0].Source != WitnessSource {
				t.Fatalf("unavailable entries %+v, want one saying %q", un, tc.want)
			}
			if gaps := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap }); len(gaps) != 0 {
				t.Errorf("a witness problem is a coverage gap of the verdict: %+v", gaps)
			}
		})
	}
}

func TestWitnessLostMidCell(t *testing.T) {
	kube := fake.NewClientset(node)
	logs := newPipeLogs()
	l := ledger.New()
	w := testWitness(kube, l, nil, logs, nil)
	started := make(chan error, 1)
	go func() { started <- w.Start(context.Background()) }()
	pod := runPods(t, kube, corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})
	<-logs.opens
	logs.write(t, pod, Ready{Kind: KindReady, Time: t0, Port: 8001})
	<-started
	// The capture dies (OOM-killed): its stream ends and the pod says so.
	p, _ := kube.CoreV1().Pods(DefaultWitnessNamespace).Get(context.Background(), pod, metav1.GetOptions{})
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}
	if _, err := kube.CoreV1().Pods(DefaultWitnessNamespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	logs.close(pod)
	deadline := time.Now().Add(3 * time.Second)
	var un []ledger.Observation
	for len(un) == 0 && time.Now().Before(deadline) {
		un = l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalWireUnavailable })
		time.Sleep(10 * time.Millisecond)
	}
	w.Stop()
	if len(un) != 1 || !strings.Contains(un[0].Detail, "stopped before the cell ended: the capture exited 137 (OOMKilled)") {
		t.Fatalf("unavailable %+v, want the witness's death recorded", un)
	}
}

func TestNewWitnessPod(t *testing.T) {
	p := NewWitnessPod("kube-system", "uh-worker", "img:v1")
	c := p.Spec.Containers[0]
	if p.Spec.NodeName != "uh-worker" || !p.Spec.HostNetwork || c.SecurityContext == nil || c.SecurityContext.Privileged == nil ||
		!*c.SecurityContext.Privileged || p.Spec.RestartPolicy != corev1.RestartPolicyNever || p.Labels[WitnessLabel] != "true" {
		t.Errorf("pod %+v: want privileged, hostNetwork, pinned, never restarted, labelled", p.Spec)
	}
	if *p.Spec.AutomountServiceAccountToken || len(p.Spec.Tolerations) != 1 || p.Spec.Tolerations[0].Operator != corev1.TolerationOpExists {
		t.Errorf("pod %+v: want no API token and every taint tolerated (control-plane nodes)", p.Spec)
	}
	if q := NewWitnessPod("kube-system", "uh-worker", "img:v1"); q.Name == p.Name || !strings.HasPrefix(p.Name, "uh-wire-witness-") {
		t.Errorf("names %s, %s: want distinct names of ours", p.Name, q.Name)
	}
}

func TestDecodeLine(t *testing.T) {
	if _, err := DecodeLine([]byte(`{"kind":"bogus"}`)); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := DecodeLine([]byte(`GET / HTTP/1.1`)); err == nil {
		t.Error("a line that is not JSON decoded")
	}
	l, err := DecodeLine([]byte(`{"kind":"request","method":"GET","path":"/health","status":200,"headerNames":["Host"]}`))
	if err != nil || l.Request == nil || l.Request.Path != "/health" {
		t.Errorf("request line: %+v, %v", l, err)
	}
	long := strings.NewReader(`{"kind":"stats"}` + "\n" + strings.Repeat("x", MaxLineBytes+1) + "\n")
	n := 0
	if err := Lines(long, func([]byte) error { n++; return nil }); !errors.Is(err, ErrLineTooLong) || n != 1 {
		t.Errorf("Lines on an endless line: %d lines, %v; want 1 then ErrLineTooLong", n, err)
	}
}

func TestObservationNeverHoldsAValue(t *testing.T) {
	w := NewWitness(WitnessInput{})
	req := Request{Kind: KindRequest, Time: t0, Src: "10.244.0.5:1", ServerIPs: []string{"10.244.0.9"}, Method: "GET", Path: "/", Ended: "timeout",
		HeaderNames:  []string{"Authorization"},
		TokenHeaders: []TokenHeader{{Name: "Authorization", Fingerprint: secrets.Fingerprint(secretToken), Bearer: true}}}
	b, err := json.Marshal(w.Observation("n", req))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secretToken) {
		t.Fatalf("value in %s", b)
	}
	if !strings.Contains(string(b), "Authorization="+secrets.Fingerprint(secretToken)+" (Bearer)") || !strings.Contains(string(b), "no response seen (timeout)") {
		t.Errorf("detail lacks the fingerprint or the unanswered status: %s", b)
	}
}

// A call through a Service lists the ClusterIP (no pod holds it) before the
// runner pod's IP. Reading such a line must not wait for the pod watch on
// the ClusterIP: at 600 ms a request the harness's reading fell minutes
// behind a busy cell's capture (issue 26).
func TestWitnessAttributesAServiceCallWithoutWaiting(t *testing.T) {
	w := NewWitness(WitnessInput{Resolver: resolverWithPods(t), AttributionTries: 3, AttributionDelay: 200 * time.Millisecond})
	viaService := Request{Kind: KindRequest, Time: t0, Src: "10.244.0.5:41234", ServerIPs: []string{"10.96.14.7", "10.244.0.9"},
		Method: "POST", Path: "/", Status: 200, HeaderNames: []string{"Host"}}
	began := time.Now()
	for range 5 {
		o := w.Observation("uh-control-plane", viaService)
		if o.RunnerPod != "proj-a/sess-a-runner" || o.Wire.DstIP != "10.244.0.9" || o.Caller != ledger.CallerBackend {
			t.Fatalf("observation %+v, wire %+v: want the runner pod behind the ClusterIP", o, o.Wire)
		}
	}
	if d := time.Since(began); d > 200*time.Millisecond {
		t.Errorf("5 Service-routed requests took %s to attribute, want no attribution wait (< 200ms)", d)
	}

	// No address a runner holds: the watch gets its tries once for the
	// request, not once per address.
	unknown := viaService
	unknown.ServerIPs = []string{"10.96.14.8", "10.244.0.77"}
	began = time.Now()
	if o := w.Observation("uh-control-plane", unknown); o.RunnerPod != "" || o.Wire.DstIP != "10.96.14.8" {
		t.Errorf("observation %+v, wire %+v: want no runner and the first server address", o, o.Wire)
	}
	if d := time.Since(began); d < 400*time.Millisecond || d > 700*time.Millisecond {
		t.Errorf("an unknown runner took %s, want the 2 waits of one attribution (400ms)", d)
	}
}

// The summary compares the requests captured with the access lines logged
// while the capture ran, and names what it leaves out (issue 26: lines
// logged after the capture stopped were counted as requests it lost).
func TestWitnessSummaryComparesTheCaptureWindow(t *testing.T) {
	l := ledger.New()
	w := NewWitness(WitnessInput{Ledger: l})
	nw := &nodeWitness{node: "uh-control-plane", pod: "uh-wire-witness-x", ready: make(chan struct{}), failed: make(chan string, 1), done: make(chan struct{})}
	w.nodes = append(w.nodes, nw)
	ready, end := t0, t0.Add(time.Minute)
	access := func(at time.Duration, caller ledger.Caller) {
		l.Add(ledger.Observation{Time: t0.Add(at), Signal: ledger.SignalRunnerAccess, Source: "runner-log:proj-a/sess-a-runner",
			Caller: caller, Method: "GET", Path: "/health", Status: 200})
	}
	access(-5*time.Second, ledger.CallerKubelet) // before the capture was ready
	access(10*time.Second, ledger.CallerKubelet)
	access(20*time.Second, ledger.CallerBackend)
	access(30*time.Second, ledger.CallerHarness) // a port-forward: on the pod's loopback
	access(70*time.Second, ledger.CallerKubelet) // after the capture stopped
	access(90*time.Second, ledger.CallerBackend)
	line := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	w.handle(nw, line(Ready{Kind: KindReady, Time: ready, Port: 8001}))
	for _, at := range []time.Duration{10 * time.Second, 20 * time.Second} {
		rt := t0.Add(at + time.Millisecond)
		w.handle(nw, line(Request{Kind: KindRequest, Time: t0.Add(at), Src: "10.244.0.1:50000", ServerIPs: []string{"10.244.0.9"},
			Method: "GET", Path: "/health", Status: 200, ResponseTime: &rt, HeaderNames: []string{"Host"}}))
	}
	w.handle(nw, line(Stats{Kind: KindStats, Time: end, Packets: 20, Requests: 2, Responses: 2}))

	got := w.Summary()
	if len(got) != 1 {
		t.Fatalf("summary %q, want one line", got)
	}
	for _, want := range []string{
		"2 requests captured 11:00:00-11:01:00 UTC; runners logged 2 access lines in that window",
		"1 from harness port-forwards", "1 before the capture was ready", "2 after it stopped",
		"2 answered, 0 unanswered (0 in flight at stop)",
	} {
		if !strings.Contains(got[0], want) {
			t.Errorf("summary %q lacks %q", got[0], want)
		}
	}
	if c := CountAccess(l, ready, end); c != (AccessCount{InWindow: 2, Harness: 1, Before: 1, After: 2}) {
		t.Errorf("CountAccess %+v", c)
	}
}
