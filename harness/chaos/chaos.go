// Package chaos injects faults into a running cell on purpose: a runner pod
// deleted during traffic, the operator pod deleted during the upgrade, the
// backend restarted, the kind node's API server paused. A fault is data (its
// Kind, the Point of the cell it fires at, a delay) and every injected fault
// is recorded in the cell's ledger as a ledger.SignalFault entry, so a reader
// sees what was broken, on which object and when.
package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind names one kind of fault.
type Kind string

const (
	// DeleteRunnerPod deletes the runner pod of the first session with
	// Fault.Role (the operator recreates it) and reads the runner's own count
	// of the 401 access lines it wrote from its termination message.
	DeleteRunnerPod Kind = "delete-runner-pod"
	// DeleteOperatorPod deletes every operator pod (its Deployment recreates one).
	DeleteOperatorPod Kind = "delete-operator-pod"
	// RestartBackend restarts the backend's Deployment as `kubectl rollout
	// restart` does and waits until the new pod is ready.
	RestartBackend Kind = "restart-backend"
	// PauseAPIServer stops the kube-apiserver process inside the kind node
	// container (SIGSTOP by its exact name) for Fault.For, then continues it.
	PauseAPIServer Kind = "pause-apiserver"
)

// Kinds lists every kind, for messages and validation.
var Kinds = []Kind{DeleteRunnerPod, DeleteOperatorPod, RestartBackend, PauseAPIServer}

// Point is where in the cell a fault fires (then after Fault.Delay).
type Point string

const (
	// AtBaseline: the pre-upgrade sessions' traffic has started.
	AtBaseline Point = "baseline"
	// AtUpgrade: the upgrade has just started.
	AtUpgrade Point = "upgrade"
	// AtAfterUpgrade: the post-upgrade sessions' traffic has started.
	AtAfterUpgrade Point = "after-upgrade"
)

// Points lists every point in cell order.
var Points = []Point{AtBaseline, AtUpgrade, AtAfterUpgrade}

// Fault is one fault to inject.
type Fault struct {
	Kind  Kind          `json:"kind"`
	At    Point         `json:"at"`
	Delay time.Duration `json:"delay"`
	// Role picks the session whose runner pod DeleteRunnerPod deletes
	// (ledger.RolePreUpgrade, ledger.RolePostUpgrade).
	Role string `json:"role,omitempty"`
	// For is how long PauseAPIServer keeps the API server stopped.
	For time.Duration `json:"for,omitempty"`
}

func (f Fault) String() string {
	s := fmt.Sprintf("%s at %s+%s", f.Kind, f.At, f.Delay)
	if f.Role != "" {
		s += " (" + f.Role + " session)"
	}
	if f.For > 0 {
		s += " for " + f.For.String()
	}
	return s
}

// Validate says what is wrong with f, naming the field, the value and what
// is valid.
func (f Fault) Validate() error {
	if !slices.Contains(Kinds, f.Kind) {
		return fmt.Errorf("fault kind %q is unknown (valid: %s)", f.Kind, join(Kinds))
	}
	if !slices.Contains(Points, f.At) {
		return fmt.Errorf("fault %s: point %q is unknown (valid: %s)", f.Kind, f.At, join(Points))
	}
	if f.Delay < 0 {
		return fmt.Errorf("fault %s: delay %s is negative", f.Kind, f.Delay)
	}
	switch f.Kind {
	case DeleteRunnerPod:
		if f.Role == "" {
			return fmt.Errorf("fault %s: role is empty (want the role of the session whose runner pod to delete, e.g. post-upgrade)", f.Kind)
		}
	case PauseAPIServer:
		if f.For <= 0 || f.For > time.Minute {
			return fmt.Errorf("fault %s: for %s is not between 0 and 1m", f.Kind, f.For)
		}
	}
	return nil
}

// Injected is what one fault did.
type Injected struct {
	Fault Fault `json:"fault"`
	// Start and End bound the injection (for a pause: stopped and continued).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Target names the object or process the fault hit.
	Target string `json:"target,omitempty"`
	// Runner401Lines is the deleted runner's own count of the 401 access lines
	// it wrote (DeleteRunnerPod; -1 when its termination message was not seen).
	Runner401Lines int `json:"runner401Lines"`
	// RunnerPod is namespace/name of the deleted runner pod (DeleteRunnerPod).
	RunnerPod string `json:"runnerPod,omitempty"`
	// RunnerCreated is that pod's creation time: the operator recreates a
	// missing runner pod under the same name, so the name alone does not
	// tell the deleted pod's lines from its successor's.
	RunnerCreated time.Time `json:"runnerCreated,omitempty"`
	// Session is the session of that pod.
	Session string `json:"session,omitempty"`
	// Error says why the fault could not be injected as planned ("" when it was).
	Error string `json:"error,omitempty"`
}

func (i Injected) String() string {
	s := fmt.Sprintf("%s: %s from %s to %s", i.Fault, i.Target, i.Start.UTC().Format("15:04:05.000"), i.End.UTC().Format("15:04:05.000"))
	if i.Fault.Kind == DeleteRunnerPod {
		if i.Runner401Lines >= 0 {
			s += fmt.Sprintf(", the runner logged %d 401 access lines", i.Runner401Lines)
		} else {
			s += ", the runner's own 401 count was not seen"
		}
	}
	if i.Error != "" {
		s += ": " + i.Error
	}
	return s
}

func join[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
