package session

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ambient-e2e/upgrade-harness/harness/poll"
)

// stopWatch times one runner pod's stop in the background.
type stopWatch struct {
	done   chan struct{}
	cancel context.CancelFunc
	stop   RunnerStop
	// ended says the restart stopped looking before the pod was gone.
	ended atomic.Bool
}

// watchRunnerStop reads the session's runner pod now, just before its stop
// is requested, then polls it every `every` until that pod (by UID: the new
// pod has the same name) is gone from the API, for at most timeout.
func (c *Client) watchRunnerStop(ctx context.Context, ref SessionRef, timeout, every time.Duration) *stopWatch {
	w := &stopWatch{done: make(chan struct{}), cancel: func() {}}
	name := RunnerPodName(ref.Name)
	w.stop.Pod = ref.Project + "/" + name
	if c.kube == nil {
		w.stop.Reason = "runner stop not timed: no Kubernetes client"
		close(w.done)
		return w
	}
	pod, err := c.kube.CoreV1().Pods(ref.Project).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		w.stop.Reason = "runner stop not timed: no runner pod " + w.stop.Pod + " before the stop"
	case err != nil:
		w.stop.Reason = fmt.Sprintf("runner stop not timed: read runner pod %s: %v", w.stop.Pod, err)
	case pod.DeletionTimestamp != nil:
		w.stop.Reason = "runner stop not timed: runner pod " + w.stop.Pod + " was already being deleted before the stop"
	}
	if w.stop.Reason != "" {
		close(w.done)
		return w
	}
	uid := pod.UID
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		w.stop.GracePeriod = time.Duration(*g) * time.Second
	}
	ctx, w.cancel = context.WithTimeout(ctx, timeout)
	start := c.clock.Now()
	go func() {
		defer close(w.done)
		for {
			gone, grace := c.runnerPodGone(ctx, ref.Project, name, uid)
			if grace > 0 {
				w.stop.GracePeriod = grace
			}
			if gone {
				w.stop.Measured, w.stop.Took = true, c.clock.Since(start)
				w.stop.describe()
				return
			}
			if err := poll.Sleep(ctx, c.clock, every); err != nil {
				if w.ended.Load() {
					w.stop.Reason = fmt.Sprintf("runner stop not timed: runner pod %s still present when the restart ended, %.0f s after the stop request", w.stop.Pod, c.clock.Since(start).Seconds())
				} else {
					w.stop.Reason = fmt.Sprintf("runner stop not timed: runner pod %s still present %s after the stop request", w.stop.Pod, timeout)
				}
				return
			}
		}
	}()
	return w
}

// runnerPodGone reports whether the pod with uid is gone, and the grace
// period its deletion set (0 when not seen). A read error is not "gone".
func (c *Client) runnerPodGone(ctx context.Context, ns, name string, uid types.UID) (bool, time.Duration) {
	p, err := c.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, 0
	case err != nil:
		return false, 0
	case p.UID != uid:
		return true, 0
	case p.DeletionGracePeriodSeconds != nil:
		return false, time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
	}
	return false, 0
}

// result waits for the stop to be timed (bounded by the watch's timeout).
func (w *stopWatch) result() RunnerStop {
	<-w.done
	return w.stop
}

// resultNow ends the watch at once (the restart failed) and returns what it has.
func (w *stopWatch) resultNow() RunnerStop {
	select {
	case <-w.done:
	default:
		w.ended.Store(true)
		w.cancel()
	}
	return w.result()
}
