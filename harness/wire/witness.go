package wire

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/detect"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// Fixed names of the witness's pods.
const (
	// WitnessLabel marks the witness pods (and finds those an interrupted run left).
	WitnessLabel = "upgrade-harness.ambient-e2e/wire-witness"
	// WitnessContainer is the pod's one container.
	WitnessContainer = "witness"
	// DefaultWitnessNamespace exists on every cluster and survives the
	// platform's reset.
	DefaultWitnessNamespace = "kube-system"
	// WitnessSource is the Source of the witness's ledger entries (with
	// ":<node>" on requests).
	WitnessSource = ledger.SourceWireWitness
	// MaxWitnessNodes bounds the pods started: one a node.
	MaxWitnessNodes = 16
)

// WitnessInput configures NewWitness.
type WitnessInput struct {
	Kube   kubernetes.Interface
	Ledger *ledger.Ledger
	// Resolver names the pods behind caller and runner IPs (the detectors'
	// shared one); nil leaves them unknown.
	Resolver *detect.CallerResolver
	// Image is the witness image (images.WireImageRef).
	Image string
	// LoadImage puts Image on the nodes before the pods start (nil: it is there).
	LoadImage func(ctx context.Context) error
	// Logs opens the pods' logs (default: through the API server).
	Logs detect.LogOpener
	// Namespace of the pods (default kube-system).
	Namespace string
	// StartTimeout bounds the wait for every pod's ready line (default 60 s).
	StartTimeout time.Duration
	// StopTimeout bounds the wait for the last lines after SIGTERM (default 20 s).
	StopTimeout time.Duration
	// PollInterval is how often the pods' state is read while starting (default 500 ms).
	PollInterval time.Duration
	// Attribution is how often, and how long apart, an IP no pod is known to
	// hold yet is asked again (defaults 3 × 300 ms): the pod watch may lag.
	AttributionTries int
	AttributionDelay time.Duration
	Logf             func(format string, a ...any)
}

func (in WitnessInput) withDefaults() WitnessInput {
	if in.Namespace == "" {
		in.Namespace = DefaultWitnessNamespace
	}
	if in.StartTimeout <= 0 {
		in.StartTimeout = 60 * time.Second
	}
	if in.StopTimeout <= 0 {
		in.StopTimeout = 20 * time.Second
	}
	if in.PollInterval <= 0 {
		in.PollInterval = 500 * time.Millisecond
	}
	if in.AttributionTries <= 0 {
		in.AttributionTries = 3
	}
	if in.AttributionDelay <= 0 {
		in.AttributionDelay = 300 * time.Millisecond
	}
	if in.Logs == nil && in.Kube != nil {
		in.Logs = detect.NewClientsetLogOpener(in.Kube)
	}
	if in.Logf == nil {
		in.Logf = func(string, ...any) {}
	}
	return in
}

// Witness runs the capture on every node while the detectors run and turns
// its lines into SignalWireRequest observations. It implements
// detect.Detector; it never fails the detectors: whatever keeps it from
// running is one SignalWireUnavailable observation and one log line.
type Witness struct {
	in     WitnessInput
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	nodes    []*nodeWitness
	stopping bool
	stopOnce sync.Once
}

// nodeWitness is the witness pod of one node.
type nodeWitness struct {
	node, pod string
	ready     chan struct{}
	failed    chan string
	done      chan struct{}

	mu        sync.Mutex
	isReady   bool
	isFailed  bool
	lines     int
	requests  int
	badLines  int
	lastStats *Stats
	// readyAt and endAt bound what the capture could see (its ready line,
	// its last stats line), on the node's clock like the runners' logs.
	readyAt, endAt time.Time
	// inFlight are requests still unanswered when the capture stopped.
	inFlight int
	// maxLag is how far the reading fell behind a request's capture.
	maxLag time.Duration
}

// NewWitness returns a witness; Start runs it.
func NewWitness(in WitnessInput) *Witness {
	return &Witness{in: in.withDefaults()}
}

// Name implements detect.Detector.
func (w *Witness) Name() string { return WitnessSource }

// Start loads the image, starts one privileged hostNetwork pod on each node
// and returns once each printed its ready line, or was given up (recorded
// as SignalWireUnavailable). It returns nil either way.
func (w *Witness) Start(ctx context.Context) error {
	w.ctx, w.cancel = context.WithCancel(ctx)
	if err := w.start(ctx); err != nil {
		w.unavailable("", err.Error())
	}
	return nil
}

func (w *Witness) start(ctx context.Context) error {
	in := w.in
	if in.Kube == nil || in.Ledger == nil || in.Image == "" {
		return errors.New("wire.WitnessInput needs Kube, Ledger and Image")
	}
	if in.LoadImage != nil {
		if err := in.LoadImage(ctx); err != nil {
			return fmt.Errorf("image %s could not be loaded onto the nodes: %w", in.Image, err)
		}
	}
	nodes, err := in.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	switch n := len(nodes.Items); {
	case n == 0:
		return errors.New("the cluster has no nodes")
	case n > MaxWitnessNodes:
		return fmt.Errorf("the cluster has %d nodes; the witness runs on at most %d", n, MaxWitnessNodes)
	}
	w.deleteLeftovers(ctx)
	for _, n := range nodes.Items {
		pod, err := in.Kube.CoreV1().Pods(in.Namespace).Create(ctx, NewWitnessPod(in.Namespace, n.Name, in.Image), metav1.CreateOptions{})
		if err != nil {
			w.unavailable(n.Name, fmt.Sprintf("privileged hostNetwork pod refused in %s: %v", in.Namespace, err))
			continue
		}
		nw := &nodeWitness{node: n.Name, pod: pod.Name, ready: make(chan struct{}), failed: make(chan string, 1), done: make(chan struct{})}
		w.mu.Lock()
		w.nodes = append(w.nodes, nw)
		w.mu.Unlock()
		go w.follow(nw)
	}
	timeout := time.NewTimer(in.StartTimeout)
	defer timeout.Stop()
	for _, nw := range w.nodeList() {
		select {
		case <-nw.ready:
			in.Logf("wire witness %s/%s captures on node %s", in.Namespace, nw.pod, nw.node)
		case why := <-nw.failed:
			w.unavailable(nw.node, why)
			w.deletePod(nw, 0)
		case <-timeout.C:
			nw.fail("no ready line within " + in.StartTimeout.String())
			w.unavailable(nw.node, "no ready line within "+in.StartTimeout.String())
			w.deletePod(nw, 0)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (w *Witness) nodeList() []*nodeWitness {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*nodeWitness(nil), w.nodes...)
}

// deleteLeftovers removes witness pods an interrupted run left behind:
// two captures on a node would each report every request.
func (w *Witness) deleteLeftovers(ctx context.Context) {
	zero := int64(0)
	err := w.in.Kube.CoreV1().Pods(w.in.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero},
		metav1.ListOptions{LabelSelector: WitnessLabel + "=true"})
	if err != nil {
		w.in.Logf("wire witness: delete leftover pods in %s: %v", w.in.Namespace, err)
	}
}

// NewWitnessPod is the witness pod of one node: pinned to it, in its
// network namespace, privileged (AF_PACKET needs CAP_NET_RAW), never
// restarted (a restart would lose what it held and say nothing).
func NewWitnessPod(namespace, node, image string) *corev1.Pod {
	yes, no := true, false
	root := int64(0)
	grace := int64(10)
	return &corev1.Pod{
		// A name of its own (not GenerateName): a leftover being deleted
		// never collides with it.
		ObjectMeta: metav1.ObjectMeta{Name: "uh-wire-witness-" + utilrand.String(6), Namespace: namespace,
			Labels: map[string]string{WitnessLabel: "true", "app.kubernetes.io/managed-by": "upgrade-harness"}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostNetwork:                   true,
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: WitnessContainer, Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"-port", fmt.Sprint(DefaultPort), "-stats-every", "5s"},
				Env: []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
					// The Go runtime collects before the pod's limit, not at it.
					{Name: "GOMEMLIMIT", Value: "64MiB"}},
				SecurityContext: &corev1.SecurityContext{Privileged: &yes, RunAsUser: &root},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					// The capture holds at most 32 MiB of TCP data (DefaultLimits).
					Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("96Mi")},
				},
			}},
		},
	}
}

// follow waits for the pod's container, then reads its log until the pod
// ends; a broken stream is reopened (lines already read are skipped).
func (w *Witness) follow(nw *nodeWitness) {
	defer close(nw.done)
	ctx := w.ctx
	if why := w.waitRunning(ctx, nw); why != "" {
		nw.fail(why)
		return
	}
	const reopens = 3
	for attempt := 0; ; attempt++ {
		rc, err := w.in.Logs.OpenLog(ctx, w.in.Namespace, nw.pod, corev1.PodLogOptions{Container: WitnessContainer, Follow: true})
		if err == nil {
			skip, n := nw.lineCount(), 0
			err = Lines(rc, func(b []byte) error {
				if n++; n <= skip {
					return nil
				}
				w.handle(nw, b)
				return nil
			})
			rc.Close()
		}
		if w.isStopping() || ctx.Err() != nil {
			return
		}
		if why := w.exited(ctx, nw); why != "" {
			w.lost(nw, why)
			return
		}
		if attempt >= reopens {
			w.lost(nw, fmt.Sprintf("its log stream broke %d times (last: %v)", attempt+1, err))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(attempt+1) * time.Second):
		}
	}
}

// waitRunning waits for the container to start; "" once it runs, else why not.
func (w *Witness) waitRunning(ctx context.Context, nw *nodeWitness) string {
	why := ""
	err := wait.PollUntilContextTimeout(ctx, w.in.PollInterval, w.in.StartTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := w.in.Kube.CoreV1().Pods(w.in.Namespace).Get(ctx, nw.pod, metav1.GetOptions{})
		if err != nil {
			why = "pod not readable: " + err.Error()
			return false, nil
		}
		running, bad := podState(p)
		why = bad
		return running || bad != "", nil
	})
	if err != nil && why == "" {
		why = "the container did not start within " + w.in.StartTimeout.String()
	}
	return why
}

// podState: the container runs (or ran: its log is there), or why it cannot.
func podState(p *corev1.Pod) (running bool, bad string) {
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Running != nil, cs.State.Terminated != nil:
			return true, ""
		case cs.State.Waiting != nil:
			switch r := cs.State.Waiting.Reason; r {
			case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
				return false, fmt.Sprintf("container cannot start: %s: %s", r, cs.State.Waiting.Message)
			}
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		return false, "pod failed: " + p.Status.Reason + " " + p.Status.Message
	}
	return false, ""
}

// exited says why the pod's container is no longer running, "" if it is.
func (w *Witness) exited(ctx context.Context, nw *nodeWitness) string {
	p, err := w.in.Kube.CoreV1().Pods(w.in.Namespace).Get(ctx, nw.pod, metav1.GetOptions{})
	if err != nil {
		return "pod gone: " + err.Error()
	}
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("the capture exited %d (%s)", t.ExitCode, t.Reason)
		}
	}
	return ""
}

func (nw *nodeWitness) lineCount() int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.lines
}

// fail reports a pod that never became ready (once).
func (nw *nodeWitness) fail(why string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.isReady || nw.isFailed {
		return
	}
	nw.isFailed = true
	nw.failed <- why
}

// lost: a witness that ran stopped before the cell ended.
func (w *Witness) lost(nw *nodeWitness, why string) {
	nw.mu.Lock()
	wasReady := nw.isReady
	nw.mu.Unlock()
	if !wasReady {
		nw.fail(why)
		return
	}
	w.unavailable(nw.node, "stopped before the cell ended: "+why)
}

func (w *Witness) handle(nw *nodeWitness, b []byte) {
	nw.mu.Lock()
	nw.lines++
	nw.mu.Unlock()
	l, err := DecodeLine(b)
	if err != nil {
		nw.mu.Lock()
		nw.badLines++
		first := nw.badLines == 1
		nw.mu.Unlock()
		if first {
			w.in.Logf("wire witness %s: unreadable line: %v", nw.node, err)
		}
		return
	}
	switch {
	case l.Ready != nil:
		nw.mu.Lock()
		if nw.readyAt.IsZero() {
			nw.readyAt = l.Ready.Time
		}
		if !nw.isReady && !nw.isFailed {
			nw.isReady = true
			close(nw.ready)
		}
		nw.mu.Unlock()
	case l.Error != nil:
		w.lost(nw, "the capture failed: "+l.Error.Message)
	case l.Stats != nil:
		nw.mu.Lock()
		nw.lastStats = l.Stats
		if l.Stats.Time.After(nw.endAt) {
			nw.endAt = l.Stats.Time
		}
		nw.mu.Unlock()
	case l.Request != nil:
		nw.mu.Lock()
		nw.requests++
		if l.Request.Ended == "shutdown" {
			nw.inFlight++
		}
		if rt := l.Request.ResponseTime; rt != nil {
			// The line is written once the answer is seen.
			if lag := time.Since(*rt); lag > nw.maxLag {
				nw.maxLag = lag
			}
		}
		nw.mu.Unlock()
		w.in.Ledger.Add(w.Observation(nw.node, *l.Request))
	}
}

// Observation turns a witness line into its ledger entry: the caller and
// the runner pod resolved from their IPs at the request's time.
func (w *Witness) Observation(node string, r Request) ledger.Observation {
	o := ledger.Observation{Time: r.Time, Signal: ledger.SignalWireRequest, Source: WitnessSource + ":" + node,
		Caller: ledger.CallerUnknown, Method: r.Method, Path: r.Path, Status: r.Status}
	wr := &ledger.WireRequest{HeaderNames: r.HeaderNames}
	if src, err := netip.ParseAddrPort(r.Src); err == nil {
		wr.SrcIP = src.Addr().String()
		id := w.identify(wr.SrcIP, r.Time)
		o.Caller, o.CallerPod, o.CallerImage, o.CallerCreated = id.Caller, id.Pod, id.Image, id.Created
	}
	// The runner is whichever server address a runner pod held: the pod IP
	// (after DNAT), not the Service's ClusterIP.
	if len(r.ServerIPs) > 0 {
		wr.DstIP = r.ServerIPs[0]
	}
	if ip, id, ok := w.identifyRunner(r.ServerIPs, r.Time); ok {
		wr.DstIP = ip
		o.RunnerPod, o.RunnerImage, o.RunnerCreated = id.Pod, id.Image, id.Created
		ns, name, _ := strings.Cut(id.Pod, "/")
		o.Namespace = ns
		if s, ok := strings.CutSuffix(name, "-runner"); ok {
			o.Session = s
		}
	}
	for _, th := range r.TokenHeaders {
		wr.TokenHeaders = append(wr.TokenHeaders, ledger.WireTokenHeader{Name: th.Name, Fingerprint: th.Fingerprint, Bearer: th.Bearer})
	}
	o.Wire = wr
	o.Detail = Describe(r)
	return o
}

// identify asks the resolver, giving the pod watch a moment for a new pod.
func (w *Witness) identify(ip string, t time.Time) detect.Identity {
	if w.in.Resolver == nil {
		return detect.Identity{Caller: ledger.CallerUnknown}
	}
	_, id, _ := w.resolve([]string{ip}, t, func(id detect.Identity) bool { return id.Caller != ledger.CallerUnknown || id.Pod != "" })
	return id
}

// identifyRunner returns the server address a runner pod held at t. Every
// address is asked on each try before the pod watch is given time: a call
// through a Service lists the ClusterIP, which no pod ever holds, next to
// the pod IP, and waiting on the ClusterIP first cost each such request
// (AttributionTries-1) x AttributionDelay, so the reading fell minutes
// behind the capture on a busy cell.
func (w *Witness) identifyRunner(ips []string, t time.Time) (string, detect.Identity, bool) {
	if w.in.Resolver == nil || len(ips) == 0 {
		return "", detect.Identity{}, false
	}
	return w.resolve(ips, t, func(id detect.Identity) bool { return id.Caller == ledger.CallerRunner })
}

// resolve asks the resolver about each of ips, AttributionTries times
// AttributionDelay apart, and returns the first identity accept takes; else
// the last answer about ips[0].
func (w *Witness) resolve(ips []string, t time.Time, accept func(detect.Identity) bool) (string, detect.Identity, bool) {
	var last detect.Identity
	for i := 0; i < w.in.AttributionTries; i++ {
		for j, ip := range ips {
			id := w.in.Resolver.Identify(ip, t)
			if accept(id) {
				return ip, id, true
			}
			if j == 0 {
				last = id
			}
		}
		if i+1 < w.in.AttributionTries {
			time.Sleep(w.in.AttributionDelay)
		}
	}
	return "", last, false
}

// Describe is a request's one-line account: names and fingerprints only.
func Describe(r Request) string {
	status := fmt.Sprint(r.Status)
	if r.Status == 0 {
		status = "no response seen (" + r.Ended + ")"
	}
	toks := "none"
	if len(r.TokenHeaders) > 0 {
		var parts []string
		for _, th := range r.TokenHeaders {
			p := th.Name + "=" + th.Fingerprint
			if th.Bearer {
				p += " (Bearer)"
			}
			parts = append(parts, p)
		}
		toks = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%s %s -> %s; headers: %s; token headers: %s", r.Method, r.Path, status, strings.Join(r.HeaderNames, ", "), toks)
}

// unavailable records that the witness does not cover node ("" = any node).
func (w *Witness) unavailable(node, why string) {
	where := "on any node"
	if node != "" {
		where = "on node " + node
	}
	msg := fmt.Sprintf("wire witness not capturing %s: %s; diagnosis falls back to the runner probe", where, why)
	w.in.Logf("%s", msg)
	if w.in.Ledger != nil {
		w.in.Ledger.Add(ledger.Observation{Time: time.Now(), Signal: ledger.SignalWireUnavailable, Source: WitnessSource, Detail: msg})
	}
}

func (w *Witness) isStopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}

func (w *Witness) deletePod(nw *nodeWitness, grace int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.in.Kube.CoreV1().Pods(w.in.Namespace).Delete(ctx, nw.pod, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		w.in.Logf("wire witness: delete %s/%s: %v", w.in.Namespace, nw.pod, err)
	}
}

// Stop deletes the pods (SIGTERM: each capture prints the requests still
// waiting and its last stats), reads their last lines and logs what each
// captured and cost.
func (w *Witness) Stop() {
	w.stopOnce.Do(func() {
		w.mu.Lock()
		w.stopping = true
		w.mu.Unlock()
		if w.cancel == nil {
			return
		}
		nodes := w.nodeList()
		for _, nw := range nodes {
			w.deletePod(nw, 10)
		}
		deadline := time.After(w.in.StopTimeout)
	wait:
		for _, nw := range nodes {
			select {
			case <-nw.done:
			case <-deadline:
				break wait
			}
		}
		w.cancel()
		for _, nw := range nodes {
			<-nw.done
		}
		for _, line := range w.Summary() {
			w.in.Logf("%s", line)
		}
	})
}

// NodeStats is what one node's witness reported last.
type NodeStats struct {
	Node string
	// Requests are the request lines read; Stats the last stats line (nil
	// when none came).
	Requests int
	Stats    *Stats
	// ReadyAt and EndAt are the capture's window: its ready line and its
	// last stats line (zero when none came).
	ReadyAt, EndAt time.Time
	// InFlight are the requests still unanswered when the capture stopped.
	InFlight int
	// MaxReadLag is how long after its capture a request line was read at
	// worst: the ledger lags the wire by that much.
	MaxReadLag time.Duration
}

// Stats returns each node's last report: the witness's cost and counts.
func (w *Witness) Stats() []NodeStats {
	var out []NodeStats
	for _, nw := range w.nodeList() {
		nw.mu.Lock()
		out = append(out, NodeStats{Node: nw.node, Requests: nw.requests, Stats: nw.lastStats,
			ReadyAt: nw.readyAt, EndAt: nw.endAt, InFlight: nw.inFlight, MaxReadLag: nw.maxLag})
		nw.mu.Unlock()
	}
	return out
}

// AccessCount is the runner access lines a node's capture is compared with.
type AccessCount struct {
	// InWindow were logged while the capture ran: the requests it should have seen.
	InWindow int
	// Harness are the harness's own port-forwarded calls in that window:
	// they reach the runner on its pod's loopback and never cross the
	// node's interfaces, so no capture can see them.
	Harness int
	// Before and After were logged before the capture was ready or after it stopped.
	Before, After int
}

// CountAccess counts the runner access lines of l against a capture that
// ran from readyAt to endAt (endAt zero: still running).
func CountAccess(l *ledger.Ledger, readyAt, endAt time.Time) AccessCount {
	var c AccessCount
	if l == nil {
		return c
	}
	for _, o := range l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalRunnerAccess }) {
		switch {
		case o.Time.Before(readyAt):
			c.Before++
		case !endAt.IsZero() && o.Time.After(endAt):
			c.After++
		case o.Caller == ledger.CallerHarness:
			c.Harness++
		default:
			c.InWindow++
		}
	}
	return c
}

// Summary is one line a node: the requests captured against the runner
// access lines logged while that capture ran (like with like: lines from
// before its ready line or after its last line, and the harness's
// port-forwards, are counted apart and named), drops and cost.
func (w *Witness) Summary() []string {
	var out []string
	for _, ns := range w.Stats() {
		var line string
		if ns.ReadyAt.IsZero() {
			line = fmt.Sprintf("wire witness on %s: %d requests captured; no ready line, so no window to compare with the runners' access lines", ns.Node, ns.Requests)
		} else {
			end := "its end"
			if !ns.EndAt.IsZero() {
				end = ns.EndAt.UTC().Format("15:04:05")
			}
			c := CountAccess(w.in.Ledger, ns.ReadyAt, ns.EndAt)
			line = fmt.Sprintf("wire witness on %s: %d requests captured %s-%s UTC; runners logged %d access lines in that window "+
				"(not counted: %d from harness port-forwards, which never cross the node's interfaces; %d before the capture was ready; %d after it stopped)",
				ns.Node, ns.Requests, ns.ReadyAt.UTC().Format("15:04:05"), end, c.InWindow, c.Harness, c.Before, c.After)
		}
		if s := ns.Stats; s != nil {
			line += fmt.Sprintf("; %d answered, %d unanswered (%d in flight at stop); %d packets, %d duplicates, %d drops; read lag max %.1f s; cpu %.2f s, peak rss %d KiB",
				s.Responses, s.Unanswered, ns.InFlight, s.Packets, s.Duplicates, s.Drops.Total(), ns.MaxReadLag.Seconds(), s.CPUSeconds, s.MaxRSSBytes/1024)
			if s.CgroupMemoryPeak > 0 {
				line += fmt.Sprintf(", cgroup memory peak %d KiB", s.CgroupMemoryPeak/1024)
			}
		} else {
			line += "; no stats line"
		}
		out = append(out, line)
	}
	return out
}
