package session

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func TestRunnerStopSaysWhenTheRunnerRanOutItsGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		took, grace time.Duration
		want        string
		hit         bool
	}{
		{60400 * time.Millisecond, 60 * time.Second, "runner took 60 s to stop: grace period", true},
		{59300 * time.Millisecond, 60 * time.Second, "runner took 59 s to stop: grace period", true},
		{1200 * time.Millisecond, 60 * time.Second, "runner took 1.2 s to stop", false},
		{45 * time.Second, 60 * time.Second, "runner took 45 s to stop", false},
		{3 * time.Second, 0, "runner took 3.0 s to stop", false},
	} {
		s := RunnerStop{Took: tc.took, GracePeriod: tc.grace}
		s.describe()
		if s.Reason != tc.want || s.HitGracePeriod != tc.hit {
			t.Errorf("took %s, grace %s: %q (hit %v), want %q (hit %v)", tc.took, tc.grace, s.Reason, s.HitGracePeriod, tc.want, tc.hit)
		}
	}
}

// RestartSession times the old runner pod's stop, from the stop request
// until that pod (by UID) is gone, with the grace period its deletion set.
func TestRestartSessionTimesTheRunnerPodsStop(t *testing.T) {
	for _, tc := range []struct {
		name      string
		goneAfter time.Duration
		grace     int64 // as the deletion sets it
		replace   bool  // a new pod of the same name follows at once
		wantHit   bool
	}{
		{name: "quick stop", goneAfter: 200 * time.Millisecond, grace: 60},
		{name: "ran out its grace period", goneAfter: 1500 * time.Millisecond, grace: 2, wantHit: true},
		{name: "replaced by a pod of the same name", goneAfter: 300 * time.Millisecond, grace: 60, replace: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := int64(60)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: testRef.Project, Name: RunnerPodName(testRef.Name), UID: "old"},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &spec}}
			kube := fake.NewSimpleClientset(pod)
			fb := newFakeBackend(t)
			fb.phases[testRef.Name] = []string{PhaseStopping, PhaseStopped, PhasePending, PhasePending, PhaseRunning}
			var once sync.Once
			ctx := context.Background()
			deleting := make(chan time.Time, 1)
			fb.onPhase = func(_, phase string) {
				if phase != PhaseStopping {
					return
				}
				once.Do(func() {
					// The operator deletes the pod: Terminating with its grace period.
					p := pod.DeepCopy()
					now := metav1.Now()
					p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &tc.grace
					if _, err := kube.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
						t.Error(err)
					}
					deleting <- time.Now()
					time.AfterFunc(tc.goneAfter, func() {
						_ = kube.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
						if tc.replace {
							n := pod.DeepCopy()
							n.UID = types.UID("new")
							_, _ = kube.CoreV1().Pods(p.Namespace).Create(ctx, n, metav1.CreateOptions{})
						}
					})
				})
			}
			c := fb.client(t, WithKubernetes(kube))
			start := time.Now()
			res, err := RestartSession(ctx, RestartSessionInput{Client: c, Session: testRef, StopTimeout: 5 * time.Second,
				StartTimeout: 5 * time.Second, PollInterval: 10 * time.Millisecond, StopPollInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			st := res.Stop
			if !st.Measured || st.Pod != "proj-a/session-1-runner" {
				t.Fatalf("stop %+v, want measured for proj-a/session-1-runner", st)
			}
			select {
			case <-deleting:
			default:
				t.Fatal("the pod was never deleted")
			}
			if st.Took < tc.goneAfter || st.Took > time.Since(start) {
				t.Errorf("stop took %s, want between %s (the pod's own stop) and %s (the restart)", st.Took, tc.goneAfter, time.Since(start))
			}
			if st.GracePeriod != time.Duration(tc.grace)*time.Second || st.HitGracePeriod != tc.wantHit {
				t.Errorf("stop %+v: want grace period %d s (from the deletion), hit %v", st, tc.grace, tc.wantHit)
			}
			if strings.HasSuffix(st.Reason, ": grace period") != tc.wantHit || !strings.HasPrefix(st.Reason, "runner took ") {
				t.Errorf("reason %q", st.Reason)
			}
		})
	}
}

// Without a Kubernetes client, or without a runner pod, the stop is not
// timed and the result says why (never a made-up figure).
func TestRestartSessionSaysWhyTheStopWasNotTimed(t *testing.T) {
	for _, tc := range []struct {
		name string
		kube bool
		want string
	}{
		{"no Kubernetes client", false, "runner stop not timed: no Kubernetes client"},
		{"no runner pod", true, "runner stop not timed: no runner pod proj-a/session-1-runner before the stop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := newFakeBackend(t)
			fb.phases[testRef.Name] = []string{PhaseStopped, PhasePending, PhaseRunning}
			var opts []ClientOption
			if tc.kube {
				opts = append(opts, WithKubernetes(fake.NewSimpleClientset()))
			}
			res, err := RestartSession(context.Background(), RestartSessionInput{Client: fb.client(t, opts...), Session: testRef,
				StopTimeout: 2 * time.Second, StartTimeout: 2 * time.Second, PollInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.Stop.Measured || res.Stop.Took != 0 || res.Stop.Reason != tc.want {
				t.Errorf("stop %+v, want not measured: %q", res.Stop, tc.want)
			}
		})
	}
}

// A stop the backend refuses ends the restart with its error, and the stop
// is not timed (the pod is still there), not left blank or made up.
func TestARefusedStopIsNotTimed(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: testRef.Project, Name: RunnerPodName(testRef.Name), UID: "old"}}
	fb := newFakeBackend(t)
	fb.setCanned("POST /stop", 404, `{"error":"not found"}`)
	c := fb.client(t, WithKubernetes(fake.NewSimpleClientset(pod)))
	res, err := RestartSession(context.Background(), RestartSessionInput{Client: c, Session: testRef, StopTimeout: 2 * time.Second,
		StartTimeout: 2 * time.Second, PollInterval: 10 * time.Millisecond, StopPollInterval: 10 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "stop session proj-a/session-1") {
		t.Fatalf("err %v, want the refused stop", err)
	}
	if res.Stop.Measured || !strings.HasPrefix(res.Stop.Reason, "runner stop not timed: runner pod proj-a/session-1-runner still present when the restart ended") {
		t.Errorf("stop %+v, want not timed, the pod still present", res.Stop)
	}
}
