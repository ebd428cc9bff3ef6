package detect

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// LogOpener opens one container log stream. The clientset implementation is
// GetLogs(...).Stream; tests substitute scripted streams because the fake
// clientset only ever answers "fake logs".
type LogOpener interface {
	OpenLog(ctx context.Context, namespace, pod string, opts corev1.PodLogOptions) (io.ReadCloser, error)
}

// NewClientsetLogOpener opens logs through the API server.
func NewClientsetLogOpener(client kubernetes.Interface) LogOpener {
	return clientsetLogOpener{client: client}
}

type clientsetLogOpener struct{ client kubernetes.Interface }

func (c clientsetLogOpener) OpenLog(ctx context.Context, namespace, pod string, opts corev1.PodLogOptions) (io.ReadCloser, error) {
	return c.client.CoreV1().Pods(namespace).GetLogs(pod, &opts).Stream(ctx)
}

// logLine is one line of a container log with its kubelet timestamp.
type logLine struct {
	pod       *corev1.Pod
	container string
	time      time.Time
	text      string // without the kubelet timestamp
}

// logFollower keeps one log stream per (pod, container) for every pod it is
// told about, across container restarts and stream failures.
type logFollower struct {
	name   string // "runner-log" or "platform-log", the Source prefix
	opts   options
	ledger *ledger.Ledger
	// containers lists which containers of pod to stream.
	containers func(pod *corev1.Pod) []string
	onLine     func(l logLine)
	// session names the session a pod belongs to, for gap observations.
	session func(pod *corev1.Pod) string

	mu      sync.Mutex
	ctx     context.Context
	pods    map[types.UID]*trackedPod
	stopped bool
	wg      sync.WaitGroup
}

type trackedPod struct {
	mu     sync.Mutex
	pod    *corev1.Pod
	gone   bool
	goneAt time.Time
	// changed is poked (never blocking) on every update so waiting streams re-check.
	changed chan struct{}
}

func (t *trackedPod) snapshot() (*corev1.Pod, bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pod, t.gone, t.goneAt
}

func (t *trackedPod) poke() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func newLogFollower(name string, l *ledger.Ledger, o options) *logFollower {
	return &logFollower{name: name, opts: o, ledger: l, pods: map[types.UID]*trackedPod{}}
}

func (f *logFollower) start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctx = ctx
}

func podUID(pod *corev1.Pod) types.UID {
	if pod.UID != "" {
		return pod.UID
	}
	return types.UID(pod.Namespace + "/" + pod.Name)
}

// upsert starts streams for a new pod or wakes the streams of a known one.
func (f *logFollower) upsert(pod *corev1.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped || f.ctx == nil {
		return
	}
	if tp, ok := f.pods[podUID(pod)]; ok {
		tp.mu.Lock()
		// Streams act on container states and deletion only; the same pod
		// seen again (by several watches, or a relist) wakes nobody.
		changed := !equality.Semantic.DeepEqual(tp.pod.Status, pod.Status) || !tp.pod.DeletionTimestamp.Equal(pod.DeletionTimestamp)
		tp.pod = pod.DeepCopy()
		tp.mu.Unlock()
		if changed {
			tp.poke()
		}
		return
	}
	tp := &trackedPod{pod: pod.DeepCopy(), changed: make(chan struct{}, 1)}
	f.pods[podUID(pod)] = tp
	for _, c := range f.containers(pod) {
		f.wg.Add(1)
		go func(container string) {
			defer f.wg.Done()
			f.follow(f.ctx, tp, container)
		}(c)
	}
}

// remove marks a pod deleted; its streams finish and report any hole.
func (f *logFollower) remove(pod *corev1.Pod) {
	f.mu.Lock()
	tp, ok := f.pods[podUID(pod)]
	delete(f.pods, podUID(pod))
	f.mu.Unlock()
	if !ok {
		return
	}
	tp.mu.Lock()
	tp.gone, tp.goneAt = true, f.opts.clock.Now()
	// The deleted object is the pod's last state: whether its containers
	// had terminated decides whether a stream that broke after its last
	// line left a hole.
	if pod.Status.ContainerStatuses != nil {
		tp.pod = pod.DeepCopy()
	}
	tp.mu.Unlock()
	tp.poke()
}

// stop waits for every stream to end; ctx must be cancelled by the caller first.
func (f *logFollower) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	f.wg.Wait()
}

// streamState is what one (pod, container) stream has covered so far.
type streamState struct {
	// instance is the restartCount of the container instance being read; -1 before the first.
	instance int32
	started  bool // the instance reached Running or Terminated
	// complete: the instance's log was read to its end after it terminated.
	complete bool
	// cleanEOF: the last read ended at EOF without error.
	cleanEOF bool
	// drained: a read ended at EOF without error and no line came after it
	// (later opens may have failed). The kubelet ends a followed stream when
	// the container exits, so once the container is seen terminated, nothing
	// was left unread.
	drained bool
	// sawWaiting: this instance was seen waiting to start.
	sawWaiting bool
	lastTS     time.Time
	// seenAtLast counts lines already handled at lastTS, to drop them when a
	// reconnect with SinceTime (second granularity) replays that instant.
	seenAtLast map[string]int
	failing    bool
	failSince  time.Time
	failErr    error
}

func containerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == name {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func (f *logFollower) follow(ctx context.Context, tp *trackedPod, container string) {
	s := &streamState{instance: -1, seenAtLast: map[string]int{}}
	reconnect := wait.Backoff{Duration: f.opts.minBackoff, Factor: 2, Cap: f.opts.maxBackoff, Steps: math.MaxInt32}
	backoff := reconnect
	for {
		pod, gone, goneAt := tp.snapshot()
		if ctx.Err() != nil {
			if s.failing && !gone {
				f.gap(pod, container, s, f.opts.clock.Now(), "detector stopped while reconnecting")
			}
			return
		}
		if gone {
			if s.started && !s.complete && !(s.cleanEOF && !s.failing) && !(s.drained && instanceTerminated(pod, container, s.instance)) {
				f.gap(pod, container, s, goneAt, "pod deleted before its log was read to the end")
			}
			return
		}
		cs := containerStatus(pod, container)
		if cs == nil {
			f.wait(ctx, tp, 0)
			continue
		}
		if cs.RestartCount > s.instance {
			f.catchUpRestart(ctx, pod, container, cs, s)
			s.instance, s.started, s.complete, s.cleanEOF, s.drained, s.sawWaiting = cs.RestartCount, false, false, false, false, false
		}
		running, terminated := cs.State.Running != nil, cs.State.Terminated != nil
		if !running && !terminated {
			s.sawWaiting = true
			f.wait(ctx, tp, 0) // waiting to start (or crash-loop back-off)
			continue
		}
		if !running && !s.started && neverRan(cs.State.Terminated, s.sawWaiting) {
			// Terminated without ever running (e.g. deleted while waiting on
			// CreateContainerConfigError): it wrote nothing, so there is
			// nothing to read and nothing to miss.
			s.complete = true
			f.wait(ctx, tp, 0)
			continue
		}
		s.started = true
		if s.complete {
			f.wait(ctx, tp, 0) // nothing more until a restart or deletion
			continue
		}
		err := f.read(ctx, pod, container, !terminated, false, s)
		if ctx.Err() != nil {
			continue
		}
		if err != nil {
			if s.cleanEOF && (apierrors.IsNotFound(err) || apierrors.IsBadRequest(err) || pod.DeletionTimestamp != nil) {
				// The previous read ended cleanly (the kubelet closes a followed
				// stream when the container exits) and now the pod or container is
				// gone: everything was read; no hole to report.
				s.complete = true
				continue
			}
			s.cleanEOF = false
			if !s.failing {
				s.failing, s.failSince, s.failErr = true, s.lastTS, err
				if s.failSince.IsZero() {
					s.failSince = f.opts.clock.Now()
				}
			}
			s.failErr = err
			f.wait(ctx, tp, backoff.Step())
			continue
		}
		s.cleanEOF, s.drained, backoff = true, true, reconnect
		if terminated {
			s.complete = true
			continue
		}
		// The stream ended while the container looked alive: it is probably
		// exiting; re-check its state shortly rather than spin.
		f.wait(ctx, tp, f.opts.minBackoff)
	}
}

// neverRan reports whether a terminated container state is one of a container
// that was never started: the runtime gives it no start time (a start error
// is stamped with the zero Unix time). The kubelet's ContainerStatusUnknown,
// for a pod deleted while its container could not be found, carries no start
// time either way, so it only counts when the instance was seen waiting.
func neverRan(t *corev1.ContainerStateTerminated, sawWaiting bool) bool {
	if t == nil || !(t.StartedAt.IsZero() || t.StartedAt.Unix() <= 0) {
		return false
	}
	return t.Reason != "ContainerStatusUnknown" || sawWaiting
}

// instanceTerminated reports whether pod's last known status shows container
// instance (restart count) terminated.
func instanceTerminated(pod *corev1.Pod, container string, instance int32) bool {
	cs := containerStatus(pod, container)
	return cs != nil && cs.RestartCount == instance && cs.State.Terminated != nil
}

// catchUpRestart reads what is left of the instance the stream was on when the
// container restarted, and records a gap for instances that cannot be read.
func (f *logFollower) catchUpRestart(ctx context.Context, pod *corev1.Pod, container string, cs *corev1.ContainerStatus, s *streamState) {
	now := f.opts.clock.Now()
	switch {
	case s.instance < 0 && cs.RestartCount > 0:
		// Pod seen for the first time after restarts: read the previous instance;
		// older ones ended before the detector started.
		if err := f.read(ctx, pod, container, false, true, s); err != nil && ctx.Err() == nil {
			f.gap(pod, container, s, now, fmt.Sprintf("previous container instance unreadable: %v", err))
		}
		if cs.RestartCount > 1 {
			f.gap(pod, container, s, now, fmt.Sprintf("%d earlier container instances ended before the detector started", cs.RestartCount-1))
		}
	case s.instance >= 0 && s.started && !s.complete:
		if cs.RestartCount == s.instance+1 {
			if err := f.read(ctx, pod, container, false, true, s); err != nil && ctx.Err() == nil {
				f.gap(pod, container, s, now, fmt.Sprintf("tail of restarted container unreadable: %v", err))
			}
			s.failing = false
		} else {
			f.gap(pod, container, s, now, fmt.Sprintf("container restarted %d times between reads; only the newest instance is readable", cs.RestartCount-s.instance))
			s.failing = false
		}
	case s.instance >= 0 && cs.RestartCount > s.instance+1:
		f.gap(pod, container, s, now, fmt.Sprintf("container restarted %d times between reads; only the newest instance is readable", cs.RestartCount-s.instance))
	}
}

// read opens one stream from the last seen timestamp and handles its lines.
// nil means the stream ended at EOF.
func (f *logFollower) read(ctx context.Context, pod *corev1.Pod, container string, follow, previous bool, s *streamState) error {
	lo := corev1.PodLogOptions{Container: container, Follow: follow, Timestamps: true, Previous: previous}
	openTS := s.lastTS
	if !openTS.IsZero() {
		since := metav1.NewTime(openTS)
		lo.SinceTime = &since
	}
	rc, err := f.opts.opener.OpenLog(ctx, pod.Namespace, pod.Name, lo)
	if err != nil {
		return fmt.Errorf("open log of %s/%s container %s: %w", pod.Namespace, pod.Name, container, err)
	}
	// Reopened from the last seen timestamp: whatever broke before is covered.
	s.failing = false
	stopClose := context.AfterFunc(ctx, func() { rc.Close() })
	defer func() {
		if stopClose() {
			rc.Close()
		}
	}()
	skip := make(map[string]int, len(s.seenAtLast))
	for k, v := range s.seenAtLast {
		skip[k] = v
	}
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		ts, text, ok := SplitKubeletTimestamp(sc.Text())
		if !ok {
			ts = s.lastTS // a line without a stamp belongs to the instant before it
		}
		if !openTS.IsZero() && ok {
			if ts.Before(openTS) {
				continue
			}
			if ts.Equal(openTS) && skip[text] > 0 {
				skip[text]--
				continue
			}
		}
		s.drained = false
		if ts.After(s.lastTS) {
			s.lastTS = ts
			s.seenAtLast = map[string]int{}
		}
		s.seenAtLast[text]++
		if ts.IsZero() {
			ts = f.opts.clock.Now()
		}
		f.onLine(logLine{pod: pod, container: container, time: ts, text: text})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read log of %s/%s container %s: %w", pod.Namespace, pod.Name, container, err)
	}
	return nil
}

func (f *logFollower) wait(ctx context.Context, tp *trackedPod, d time.Duration) {
	var timer <-chan time.Time
	if d > 0 {
		t := f.opts.clock.NewTimer(d)
		defer t.Stop()
		timer = t.C()
	}
	select {
	case <-ctx.Done():
	case <-tp.changed:
	case <-timer:
	}
}

func (f *logFollower) gap(pod *corev1.Pod, container string, s *streamState, until time.Time, why string) {
	from := s.lastTS
	if s.failing && !s.failSince.IsZero() {
		from = s.failSince
	}
	// The pod can be seen gone a few ms before the runtime's timestamp of its
	// last line read: the hole is then what came after that line.
	if until.Before(from) {
		until = from
	}
	detail := fmt.Sprintf("log of %s/%s container %s not covered", pod.Namespace, pod.Name, container)
	if !from.IsZero() {
		detail += " from " + from.UTC().Format(time.RFC3339Nano)
	}
	detail += " to " + until.UTC().Format(time.RFC3339Nano) + ": " + why
	if s.failing && s.failErr != nil {
		detail += " (last error: " + s.failErr.Error() + ")"
	}
	at := from
	if at.IsZero() {
		at = until
	}
	session := ""
	if f.session != nil {
		session = f.session(pod)
	}
	f.ledger.Add(ledger.Observation{
		Time:      at,
		Signal:    ledger.SignalGap,
		Source:    f.name + ":" + pod.Namespace + "/" + pod.Name + "/" + container,
		Namespace: pod.Namespace,
		Session:   session,
		Detail:    Redact(detail),
	})
}
