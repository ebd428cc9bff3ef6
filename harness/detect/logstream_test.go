package detect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/tests/support/testsupport"
)

type fakeLine struct {
	at   time.Time
	text string
}

// openScript is what one OpenLog call does.
type openScript struct {
	openErr   error
	failAfter int // lines served before a read error; -1 never
}

// fakeLogs serves container logs per instance (restart count) the way the
// kubelet does: SinceTime truncated to the second, Previous = the instance
// before the current one, follow streams stay open until closed.
type fakeLogs struct {
	mu        sync.Mutex
	instances map[string][][]fakeLine // ns/pod/container -> lines per instance
	scripts   map[string][]openScript
	fallback  map[string]openScript // used when the script is exhausted
	calls     map[string][]corev1.PodLogOptions
	ended     map[string]chan struct{} // closed when the current instance ends
	// waiting counts follow streams that served every line and wait for more.
	waiting map[string]int
}

func newFakeLogs() *fakeLogs {
	return &fakeLogs{instances: map[string][][]fakeLine{}, scripts: map[string][]openScript{},
		fallback: map[string]openScript{}, calls: map[string][]corev1.PodLogOptions{}, ended: map[string]chan struct{}{}, waiting: map[string]int{}}
}

func (f *fakeLogs) add(key string, lines ...fakeLine) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.instances[key]) == 0 {
		f.instances[key] = [][]fakeLine{nil}
	}
	n := len(f.instances[key]) - 1
	f.instances[key][n] = append(f.instances[key][n], lines...)
}

// restart ends the current instance (open follow streams see EOF) and starts a new one.
func (f *fakeLogs) restart(key string, lines ...fakeLine) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.ended[key]; ok {
		close(ch)
		delete(f.ended, key)
	}
	f.instances[key] = append(f.instances[key], lines)
}

// caughtUp reports whether a follow stream of key has served every line and
// waits for more: what the detector reads next can only come from new lines.
func (f *fakeLogs) caughtUp(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiting[key] > 0
}

// endStream ends the current instance's open follow streams at EOF (the
// container exited) and makes every later open fail with err.
func (f *fakeLogs) endStream(key string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fallback[key] = openScript{openErr: err, failAfter: -1}
	if ch, ok := f.ended[key]; ok {
		close(ch)
		delete(f.ended, key)
	}
}

func (f *fakeLogs) callsOf(key string) []corev1.PodLogOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]corev1.PodLogOptions(nil), f.calls[key]...)
}

func (f *fakeLogs) OpenLog(ctx context.Context, ns, pod string, o corev1.PodLogOptions) (io.ReadCloser, error) {
	key := ns + "/" + pod + "/" + o.Container
	f.mu.Lock()
	f.calls[key] = append(f.calls[key], o)
	sc := openScript{failAfter: -1}
	if fb, ok := f.fallback[key]; ok {
		sc = fb
	}
	if s := f.scripts[key]; len(s) > 0 {
		sc, f.scripts[key] = s[0], s[1:]
	}
	inst := f.instances[key]
	idx := len(inst) - 1
	if o.Previous {
		idx--
	}
	var lines []fakeLine
	if idx >= 0 {
		lines = append(lines, inst[idx]...)
	}
	ended, ok := f.ended[key]
	if !ok {
		ended = make(chan struct{})
		f.ended[key] = ended
	}
	f.mu.Unlock()
	if sc.openErr != nil {
		return nil, sc.openErr
	}
	if idx < 0 {
		return nil, fmt.Errorf("previous terminated container %q in pod %q not found", o.Container, pod)
	}
	var since time.Time
	if o.SinceTime != nil {
		since = o.SinceTime.Time.Truncate(time.Second) // metav1.Time travels with second precision
	}
	pr, pw := io.Pipe()
	go func() {
		n := 0
		for _, l := range lines {
			if l.at.Before(since) {
				continue
			}
			if sc.failAfter >= 0 && n == sc.failAfter {
				pw.CloseWithError(errors.New("stream reset by peer"))
				return
			}
			if _, err := fmt.Fprintf(pw, "%s %s\n", l.at.Format(time.RFC3339Nano), l.text); err != nil {
				return
			}
			n++
		}
		if sc.failAfter >= 0 && n == sc.failAfter {
			pw.CloseWithError(errors.New("stream reset by peer"))
			return
		}
		if !o.Follow || o.Previous {
			pw.Close()
			return
		}
		f.mu.Lock()
		f.waiting[key]++
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.waiting[key]--
			f.mu.Unlock()
		}()
		select {
		case <-ctx.Done():
			pw.CloseWithError(ctx.Err())
		case <-ended:
			pw.Close()
		}
	}()
	return pr, nil
}

func runningRunnerPod(ns, session, ip string, restarts int32) *corev1.Pod {
	p := testPod(ns, session+"-runner", RunnerAppLabelValue, ip, time.Now().Add(-time.Hour))
	p.Labels[SessionLabel] = session
	p.Spec.Containers = []corev1.Container{{Name: "state-sync", Image: "sim/state-sync:v0.2.2"}, {Name: RunnerContainer, Image: "sim/runner:v0.2.2"}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: RunnerContainer, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	return p
}

func managedNS(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ManagedNamespaceLabel: "true"}}}
}

func countSignal(l *ledger.Ledger, s ledger.Signal) int {
	return len(l.Filter(func(o ledger.Observation) bool { return o.Signal == s }))
}

func accessDetails(l *ledger.Ledger) []string {
	var out []string
	for _, o := range l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalRunnerAccess }) {
		out = append(out, o.Method+" "+o.Path+" "+fmt.Sprint(o.Status))
	}
	return out
}

func access(ip, method, path string, status int, reason string) string {
	return fmt.Sprintf(`INFO:     %s:51234 - "%s %s HTTP/1.1" %d %s`, ip, method, path, status, reason)
}

func TestRunnerLogsAttributesAccessLines(t *testing.T) {
	base := time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)
	backend := testPod("ambient-code", "backend-api-1", BackendAppLabelValue, "10.244.0.7", base.Add(-time.Hour))
	operator := testPod("ambient-code", "agentic-operator-1", OperatorAppLabelValue, "10.244.0.8", base.Add(-time.Hour))
	backend.Spec.Containers = []corev1.Container{{Name: "backend-api", Image: "sim/backend:v0.2.2"}}
	operator.Spec.Containers = []corev1.Container{{Name: "agentic-operator", Image: "sim/operator:v0.2.0"}}
	runner := runningRunnerPod("proj-a", "session-b", "10.244.0.20", 0)
	unmanaged := runningRunnerPod("other", "session-x", "10.244.0.21", 0)
	client := fake.NewClientset(managedNS("proj-a"), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		backend, operator, runner, unmanaged)
	watches := newWatches(t, client, nil)
	resolver := NewCallerResolver(watches)
	resolver.AddKubeletIP("10.244.0.1", "kind-control-plane")
	logs := newFakeLogs()
	key := "proj-a/session-b-runner/" + RunnerContainer
	logs.add(key,
		fakeLine{base, "INFO:ambient_runner.app:AG-UI token authentication enabled"},
		fakeLine{base.Add(time.Second), "INFO:     Started server process [1]"},
		fakeLine{base.Add(3 * time.Second), access("10.244.0.7", "GET", "/events", 401, "Unauthorized")},
		fakeLine{base.Add(3 * time.Second), access("10.244.0.7", "POST", "/", 401, "Unauthorized")},
		fakeLine{base.Add(4 * time.Second), access("10.244.0.8", "POST", "/workflow", 401, "Unauthorized")},
		fakeLine{base.Add(5 * time.Second), access("10.244.0.1", "GET", "/health", 200, "OK")},
	)
	l := ledger.New()
	l.MarkPhase(ledger.PhaseDuring, base.Add(2*time.Second))
	l.MarkPhase(ledger.PhaseAfter, base.Add(2*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := resolver.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer resolver.Stop()
	d := NewRunnerLogs(watches, l, WithLogOpener(logs), WithCallerResolver(resolver), WithAttributionRetry(1, 0))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "4 access lines", func() bool { return countSignal(l, ledger.SignalRunnerAccess) == 4 })
	d.Stop()

	if n := countSignal(l, ledger.SignalRunner401); n != 3 {
		t.Errorf("runner-401 = %d, want 3", n)
	}
	if n := countSignal(l, ledger.SignalRunnerAuthEnabled); n != 1 {
		t.Errorf("auth-enabled = %d, want 1", n)
	}
	if n := countSignal(l, ledger.SignalGap); n != 0 {
		t.Errorf("no gap expected on a healthy stream stopped by the harness, got %d", n)
	}
	want := map[string]ledger.Caller{"/events": ledger.CallerBackend, "/": ledger.CallerBackend, "/workflow": ledger.CallerOperator, "/health": ledger.CallerKubelet}
	for _, o := range l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalRunnerAccess }) {
		if o.Caller != want[o.Path] {
			t.Errorf("%s %s attributed to %s, want %s", o.Method, o.Path, o.Caller, want[o.Path])
		}
		wantImage := map[ledger.Caller]string{ledger.CallerBackend: "sim/backend:v0.2.2", ledger.CallerOperator: "sim/operator:v0.2.0"}[o.Caller]
		if o.CallerImage != wantImage || o.RunnerImage != "sim/runner:v0.2.2" || o.RunnerPod != "proj-a/session-b-runner" {
			t.Errorf("%s %s: caller image %q runner %q image %q, want %q and the runner container's image", o.Method, o.Path, o.CallerImage, o.RunnerPod, o.RunnerImage, wantImage)
		}
		if o.Namespace != "proj-a" || o.Session != "session-b" || o.Phase != ledger.PhaseAfter || !strings.Contains(o.Detail, o.Path+" HTTP/1.1") {
			t.Errorf("observation fields: %+v", o)
		}
		if o.Time.Before(base.Add(3 * time.Second)) {
			t.Errorf("Time must be the kubelet timestamp, got %v", o.Time)
		}
	}
	if calls := logs.callsOf("other/session-x-runner/" + RunnerContainer); len(calls) != 0 {
		t.Errorf("runner in an unmanaged namespace was streamed")
	}
	if c := logs.callsOf(key)[0]; !c.Follow || !c.Timestamps || c.Container != RunnerContainer || c.SinceTime != nil {
		t.Errorf("first open options %+v", c)
	}
}

func TestRunnerLogsResumeDropsDuplicates(t *testing.T) {
	base := time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)
	runner := runningRunnerPod("proj-a", "session-b", "10.244.0.20", 0)
	client := fake.NewClientset(managedNS("proj-a"), runner)
	logs := newFakeLogs()
	key := "proj-a/session-b-runner/" + RunnerContainer
	l1 := fakeLine{base.Add(100 * time.Millisecond), access("10.244.0.7", "POST", "/", 401, "Unauthorized")}
	l2 := fakeLine{base.Add(1200 * time.Millisecond), access("10.244.0.7", "GET", "/a", 200, "OK")}
	l3 := fakeLine{base.Add(1500 * time.Millisecond), access("10.244.0.7", "GET", "/b", 200, "OK")}
	l4 := fakeLine{base.Add(1500 * time.Millisecond), access("10.244.0.7", "GET", "/c", 200, "OK")} // same instant as l3
	l5 := fakeLine{base.Add(2 * time.Second), access("10.244.0.7", "GET", "/d", 200, "OK")}
	logs.add(key, l1, l2, l3, l4, l5)
	// First stream breaks after l3; the reconnect with SinceTime replays l2..l5.
	logs.scripts[key] = []openScript{{failAfter: 3}, {openErr: errors.New("apiserver unavailable"), failAfter: -1}}
	l := ledger.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := NewRunnerLogs(newWatches(t, client, nil), l, WithLogOpener(logs), WithReconnectBackoff(time.Millisecond, 5*time.Millisecond))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "5 access lines", func() bool { return countSignal(l, ledger.SignalRunnerAccess) >= 5 })
	// Every line served and the stream waiting: a duplicate would have been read by now; Stop waits for it.
	testsupport.Eventually(t, "resumed stream caught up", func() bool { return logs.caughtUp(key) })
	d.Stop()
	if got := strings.Join(accessDetails(l), ","); got != "POST / 401,GET /a 200,GET /b 200,GET /c 200,GET /d 200" {
		t.Errorf("lines after resume = %s", got)
	}
	calls := logs.callsOf(key)
	if len(calls) < 3 {
		t.Fatalf("want 3 opens (broken, failed, resumed), got %d", len(calls))
	}
	for _, c := range calls[1:] {
		if c.SinceTime == nil || !c.SinceTime.Time.Equal(l3.at) {
			t.Errorf("reconnect SinceTime = %v, want the last seen timestamp %v", c.SinceTime, l3.at)
		}
	}
	if n := countSignal(l, ledger.SignalGap); n != 0 {
		t.Errorf("a resumed stream is covered, got %d gaps", n)
	}
}

func TestRunnerLogsGapWhenPodGoesWhileDisconnected(t *testing.T) {
	base := time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)
	runner := runningRunnerPod("proj-a", "session-b", "10.244.0.20", 0)
	client := fake.NewClientset(managedNS("proj-a"), runner)
	logs := newFakeLogs()
	key := "proj-a/session-b-runner/" + RunnerContainer
	logs.add(key, fakeLine{base, access("10.244.0.7", "POST", "/", 401, "Unauthorized")}, fakeLine{base.Add(time.Second), access("10.244.0.7", "POST", "/", 401, "Unauthorized")})
	logs.scripts[key] = []openScript{{failAfter: 1}}
	logs.fallback[key] = openScript{openErr: errors.New("connection refused"), failAfter: -1}
	l := ledger.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := NewRunnerLogs(newWatches(t, client, nil), l, WithLogOpener(logs), WithReconnectBackoff(time.Millisecond, 5*time.Millisecond))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "first line", func() bool { return countSignal(l, ledger.SignalRunnerAccess) == 1 })
	testsupport.Eventually(t, "failed reconnects", func() bool { return len(logs.callsOf(key)) >= 3 })
	if err := client.CoreV1().Pods("proj-a").Delete(ctx, "session-b-runner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "gap", func() bool { return countSignal(l, ledger.SignalGap) == 1 })
	d.Stop()
	gap := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap })[0]
	if !gap.Time.Equal(base) || gap.Session != "session-b" || !strings.Contains(gap.Detail, "not covered from "+base.Format(time.RFC3339Nano)) ||
		!strings.Contains(gap.Detail, "connection refused") {
		t.Errorf("gap = %+v", gap)
	}
	if n := countSignal(l, ledger.SignalGap); n != 1 {
		t.Errorf("gaps after Stop = %d, want exactly 1", n)
	}
}

func TestRunnerLogsGapWhenStoppedWhileDisconnected(t *testing.T) {
	runner := runningRunnerPod("proj-a", "session-b", "10.244.0.20", 0)
	client := fake.NewClientset(managedNS("proj-a"), runner)
	logs := newFakeLogs()
	key := "proj-a/session-b-runner/" + RunnerContainer
	logs.fallback[key] = openScript{openErr: errors.New("kubelet unreachable"), failAfter: -1}
	l := ledger.New()
	d := NewRunnerLogs(newWatches(t, client, nil), l, WithLogOpener(logs), WithReconnectBackoff(time.Millisecond, 2*time.Millisecond))
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "failed opens", func() bool { return len(logs.callsOf(key)) >= 2 })
	d.Stop()
	gaps := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap })
	if len(gaps) != 1 || !strings.Contains(gaps[0].Detail, "detector stopped while reconnecting") {
		t.Fatalf("gaps = %+v", gaps)
	}
}

func TestRunnerLogsFollowsRestartedContainer(t *testing.T) {
	base := time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)
	runner := runningRunnerPod("proj-a", "session-b", "10.244.0.20", 0)
	client := fake.NewClientset(managedNS("proj-a"), runner)
	logs := newFakeLogs()
	key := "proj-a/session-b-runner/" + RunnerContainer
	logs.add(key, fakeLine{base, access("10.244.0.7", "GET", "/a", 200, "OK")}, fakeLine{base.Add(time.Second), access("10.244.0.7", "GET", "/b", 200, "OK")})
	// The stream breaks after /a; before the reconnect the container restarts,
	// so /b is only readable as the previous instance.
	logs.scripts[key] = []openScript{{failAfter: 1}}
	l := ledger.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The reconnect back-off never ends on this clock: the restart is what wakes the stream.
	clk := clocktesting.NewFakeClock(base)
	d := NewRunnerLogs(newWatches(t, client, nil), l, WithLogOpener(logs), WithReconnectBackoff(300*time.Millisecond, time.Second), WithClock(clk))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "first line", func() bool { return countSignal(l, ledger.SignalRunnerAccess) == 1 })
	logs.restart(key, fakeLine{base.Add(5 * time.Second), access("10.244.0.7", "GET", "/c", 200, "OK")})
	restarted := runner.DeepCopy()
	restarted.Status.ContainerStatuses[0].RestartCount = 1
	if _, err := client.CoreV1().Pods("proj-a").UpdateStatus(ctx, restarted, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "3 lines", func() bool { return countSignal(l, ledger.SignalRunnerAccess) >= 3 })
	testsupport.Eventually(t, "new instance's stream caught up", func() bool { return logs.caughtUp(key) })
	d.Stop()
	if got := strings.Join(accessDetails(l), ","); got != "GET /a 200,GET /b 200,GET /c 200" {
		t.Errorf("lines across restart = %s", got)
	}
	previous := false
	for _, c := range logs.callsOf(key) {
		previous = previous || c.Previous
	}
	if !previous {
		t.Errorf("the restarted container's tail must be read with Previous: true")
	}
	if n := countSignal(l, ledger.SignalGap); n != 0 {
		t.Errorf("gaps = %d, want 0", n)
	}
}

func TestRunnerLogsPicksUpNamespaceLabelledLater(t *testing.T) {
	base := time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)
	client := fake.NewClientset()
	logs := newFakeLogs()
	key := "proj-new/session-z-runner/" + RunnerContainer
	logs.add(key, fakeLine{base, access("10.244.0.7", "POST", "/", 200, "OK")})
	l := ledger.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := NewRunnerLogs(newWatches(t, client, nil), l, WithLogOpener(logs))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	// A managed namespace whose runner pod, created after the unmanaged one,
	// shows that the pod watch has handled the unmanaged pod.
	if _, err := client.CoreV1().Namespaces().Create(ctx, managedNS("proj-seen"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "proj-seen managed", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.managed["proj-seen"] })
	logs.add("proj-seen/session-s-runner/"+RunnerContainer, fakeLine{base, access("10.244.0.7", "GET", "/seen", 200, "OK")})
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "proj-new"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("proj-new").Create(ctx, runningRunnerPod("proj-new", "session-z", "10.244.0.40", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("proj-seen").Create(ctx, runningRunnerPod("proj-seen", "session-s", "10.244.0.41", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "line of the managed namespace's pod", func() bool { return countSignal(l, ledger.SignalRunnerAccess) == 1 })
	if calls := logs.callsOf(key); len(calls) != 0 {
		t.Fatalf("pod in an unmanaged namespace streamed")
	}
	if _, err := client.CoreV1().Namespaces().Update(ctx, managedNS("proj-new"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "line from the newly managed namespace", func() bool { return countSignal(l, ledger.SignalRunnerAccess) == 2 })
}

func TestPlatformLogs(t *testing.T) {
	base := time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)
	backend := testPod("ambient-code", "backend-api-2", BackendAppLabelValue, "10.244.0.7", base)
	backend.Spec.Containers = []corev1.Container{{Name: "backend-api"}}
	backend.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "backend-api", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	operator := testPod("ambient-code", "agentic-operator-2", OperatorAppLabelValue, "10.244.0.8", base)
	operator.Spec.Containers = []corev1.Container{{Name: "agentic-operator"}}
	operator.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agentic-operator", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	frontend := testPod("ambient-code", "frontend-1", "frontend", "10.244.0.9", base)
	client := fake.NewClientset(backend, operator, frontend)
	logs := newFakeLogs()
	logs.add("ambient-code/backend-api-2/backend-api",
		fakeLine{base, "2026/11/28 21:00:00 Starting server"},
		fakeLine{base.Add(time.Second), `2026/11/28 21:00:01 AGUI Proxy: runner returned 401: {"detail":"Unauthorized"}`},
		fakeLine{base.Add(2 * time.Second), `2026/11/28 21:00:02 Between-run listener: runner returned 401 for proj-a/session-b (attempt 1/30)`},
	)
	logs.add("ambient-code/agentic-operator-2/agentic-operator",
		fakeLine{base.Add(3 * time.Second), `2026/11/28 21:00:03 [Reconcile] Runner returned non-200 for workflow change: 401 - {"detail":"Unauthorized"}`},
		fakeLine{base.Add(3 * time.Second), `2026/11/28 21:00:03 [Reconcile] Failed to reconcile workflow for proj-a/session-b: runner workflow update failed: 401`},
		fakeLine{base.Add(4 * time.Second), `2026/11/28 21:00:04 [Reconcile] Runner returned 401 for repo add`},
		fakeLine{base.Add(5 * time.Second), `2026/11/28 21:00:05 Refreshed runner token for session proj-a/session-a`},
	)
	l := ledger.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := NewPlatformLogs(newWatches(t, client, nil), l, WithLogOpener(logs))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "6 platform observations", func() bool { return len(l.All()) == 6 })
	d.Stop()
	got := map[ledger.Signal]int{}
	for _, o := range l.All() {
		got[o.Signal]++
		switch o.Signal {
		case ledger.SignalBackendProxy401, ledger.SignalBackendListener401:
			if o.Caller != ledger.CallerBackend || o.CallerPod != "ambient-code/backend-api-2" {
				t.Errorf("backend line attributed to %s %s", o.Caller, o.CallerPod)
			}
		case ledger.SignalOperatorWorkflow401, ledger.SignalOperatorRepo401:
			if o.Caller != ledger.CallerOperator || o.Status != 401 {
				t.Errorf("operator line: %+v", o)
			}
		}
		if o.Signal == ledger.SignalBackendListener401 && (o.Namespace != "proj-a" || o.Session != "session-b" || o.Path != "/events") {
			t.Errorf("listener line: %+v", o)
		}
	}
	want := map[ledger.Signal]int{ledger.SignalBackendProxy401: 1, ledger.SignalBackendListener401: 1, ledger.SignalOperatorWorkflow401: 2,
		ledger.SignalOperatorRepo401: 1, ledger.SignalSessionState: 1}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("%s = %d, want %d (all: %v)", s, got[s], n, got)
		}
	}
	if len(logs.callsOf("ambient-code/frontend-1/frontend")) != 0 {
		t.Errorf("frontend pod must not be streamed")
	}
}

// Issue 25 item 3: a runner container that never ran (waiting on
// CreateContainerConfigError, then its pod deleted: the kubelet reports it
// terminated with no start time) wrote nothing, so it leaves no gap.
func TestRunnerLogsNoGapForContainerThatNeverStarted(t *testing.T) {
	runner := runningRunnerPod("proj-a", "session-a", "10.244.0.21", 0)
	runner.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError"}}
	client := fake.NewClientset(managedNS("proj-a"), runner)
	logs := newFakeLogs()
	key := "proj-a/session-a-runner/" + RunnerContainer
	logs.fallback[key] = openScript{openErr: errors.New(`container "claude-code-runner" in pod "session-a-runner" is waiting to start`), failAfter: -1}
	l := ledger.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := NewRunnerLogs(newWatches(t, client, nil), l, WithLogOpener(logs), WithReconnectBackoff(time.Millisecond, 2*time.Millisecond))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	gone := runner.DeepCopy()
	gone.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "ContainerStatusUnknown",
		Message: "The container could not be located when the pod was deleted."}}
	if _, err := client.CoreV1().Pods("proj-a").UpdateStatus(ctx, gone, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Give the stream time to act on the terminated state before the delete.
	time.Sleep(50 * time.Millisecond)
	if err := client.CoreV1().Pods("proj-a").Delete(ctx, "session-a-runner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	d.Stop()
	if gaps := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap }); len(gaps) != 0 {
		t.Errorf("a container that never ran has nothing to miss, got gaps %+v", gaps)
	}
	if n := len(logs.callsOf(key)); n != 0 {
		t.Errorf("log of a never-started container opened %d times, want 0", n)
	}
}

// runPodDeletedAfterEOF runs a runner whose followed stream ends at EOF
// (the container exits) after two lines, every later open failing, then
// deletes the pod; exited says whether its last status shows the container
// terminated. It returns the ledger.
func runPodDeletedAfterEOF(t *testing.T, exited bool) *ledger.Ledger {
	t.Helper()
	base := time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)
	runner := runningRunnerPod("proj-a", "session-b", "10.244.0.20", 0)
	client := fake.NewClientset(managedNS("proj-a"), runner)
	logs := newFakeLogs()
	key := "proj-a/session-b-runner/" + RunnerContainer
	logs.add(key, fakeLine{base, access("10.244.0.7", "POST", "/", 200, "OK")}, fakeLine{base.Add(time.Second), access("10.244.0.7", "GET", "/events", 200, "OK")})
	l := ledger.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := NewRunnerLogs(newWatches(t, client, nil), l, WithLogOpener(logs), WithReconnectBackoff(time.Millisecond, 2*time.Millisecond))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "both lines read", func() bool { return countSignal(l, ledger.SignalRunnerAccess) == 2 && logs.caughtUp(key) })
	logs.endStream(key, errors.New("dial tcp 172.18.0.2:10250: connect: connection refused"))
	testsupport.Eventually(t, "failed reopens after the EOF", func() bool { return len(logs.callsOf(key)) >= 3 })
	last := runner.DeepCopy()
	if exited {
		last.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed",
			StartedAt: metav1.NewTime(base.Add(-time.Minute)), FinishedAt: metav1.NewTime(base.Add(2 * time.Second))}}
		if _, err := client.CoreV1().Pods("proj-a").UpdateStatus(ctx, last, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.CoreV1().Pods("proj-a").Delete(ctx, "session-b-runner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	d.Stop()
	return l
}

// A pod deleted after its container exited and its last line was read (the
// stream ended at EOF; only reopens after that failed) left no hole.
func TestRunnerLogsNoGapWhenPodDeletedAfterItsLastLine(t *testing.T) {
	l := runPodDeletedAfterEOF(t, true)
	if gaps := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap }); len(gaps) != 0 {
		t.Errorf("the log was read to its end before the pod went, got gaps %+v", gaps)
	}
}

// The same stream, but the container was never seen to exit: lines written
// after the EOF could have been lost, so it is still a gap.
func TestRunnerLogsGapWhenPodDeletedWhileItsContainerStillRan(t *testing.T) {
	l := runPodDeletedAfterEOF(t, false)
	gaps := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalGap })
	if len(gaps) != 1 || !strings.Contains(gaps[0].Detail, "pod deleted before its log was read to the end") {
		t.Errorf("gaps = %+v, want one: the container may have written after the EOF", gaps)
	}
}

// ContainerStatusUnknown carries no start time even for a container that
// ran; first seen that way (never seen waiting), its unread log is a gap.
func TestRunnerLogsGapForUnknownContainerNeverSeenWaiting(t *testing.T) {
	runner := runningRunnerPod("proj-a", "session-a", "10.244.0.21", 0)
	runner.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "ContainerStatusUnknown"}}
	client := fake.NewClientset(managedNS("proj-a"), runner)
	logs := newFakeLogs()
	key := "proj-a/session-a-runner/" + RunnerContainer
	logs.fallback[key] = openScript{openErr: errors.New("container not found"), failAfter: -1}
	l := ledger.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := NewRunnerLogs(newWatches(t, client, nil), l, WithLogOpener(logs), WithReconnectBackoff(time.Millisecond, 2*time.Millisecond))
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "log opened", func() bool { return len(logs.callsOf(key)) >= 1 })
	if err := client.CoreV1().Pods("proj-a").Delete(ctx, "session-a-runner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "gap", func() bool { return countSignal(l, ledger.SignalGap) == 1 })
	d.Stop()
}
