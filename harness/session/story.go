package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// PrepareProjectInput is the input for PrepareProject.
type PrepareProjectInput struct {
	Client      *Client
	Project     string
	DisplayName string
	// Timeout bounds the whole preparation (default 2 min).
	Timeout time.Duration
}

// PrepareProject follows upstream's own test flow (docs/platform.md §5 steps 1–3):
// create the project (409 is fine), wait until it answers, write runner secrets.
func PrepareProject(ctx context.Context, in PrepareProjectInput) error {
	if in.Client == nil || in.Project == "" {
		return errors.New("PrepareProjectInput needs Client and Project")
	}
	timeout := durationOr(in.Timeout, 2*time.Minute)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The backend may be mid-restart: retry creation until it answers.
	var res APIResult
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		res = in.Client.CreateProject(ctx, in.Project, in.DisplayName)
		if res.Class == ClassBackend401 {
			return false, fmt.Errorf("create project %q: backend rejected the harness identity: %w", in.Project, res.Error())
		}
		return res.OK(), nil
	})
	if err != nil {
		if wait.Interrupted(err) {
			return fmt.Errorf("create project %q within %s: %w", in.Project, timeout, res.Error())
		}
		return err
	}
	if err := in.Client.WaitForProjectReady(ctx, WaitForProjectReadyInput{Project: in.Project, Timeout: timeout}); err != nil {
		return err
	}
	if err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		res = in.Client.PutRunnerSecrets(ctx, in.Project)
		return res.OK(), nil
	}); err != nil {
		return fmt.Errorf("put runner secrets (ANTHROPIC_API_KEY) in project %q within %s: %w", in.Project, timeout, res.Error())
	}
	return nil
}

// StartSessionInput is the input for StartSession.
type StartSessionInput struct {
	Client *Client
	Ledger *ledger.Ledger
	// Project the session is created in (PrepareProject must have run).
	Project string
	// Spec defaults to DefaultStartSpec() when nil.
	Spec *SessionSpec
	// Role is the session's part in the story (ledger.RolePreUpgrade, ...).
	Role string
	// Timeout to reach Running (default 3 min).
	Timeout time.Duration
	// PollInterval between status reads (default 1 s).
	PollInterval time.Duration
}

// DefaultStartSpec is a session with an initial prompt (so the runner posts
// agui/run by itself) and an active workflow (so the operator calls /workflow).
func DefaultStartSpec() SessionSpec {
	return SessionSpec{
		InitialPrompt:  "Say hello; this session is upgrade-harness traffic.",
		ActiveWorkflow: &Workflow{GitURL: ExampleWorkflowURL, Branch: DefaultBranch, Path: "workflows/harness-a"},
	}
}

// StartSession creates a session through the backend, tags it with its role in
// the ledger and waits until it is Running.
func StartSession(ctx context.Context, in StartSessionInput) (SessionRef, error) {
	if in.Client == nil || in.Project == "" {
		return SessionRef{}, errors.New("StartSessionInput needs Client and Project")
	}
	spec := DefaultStartSpec()
	if in.Spec != nil {
		spec = *in.Spec
	}
	timeout := durationOr(in.Timeout, 3*time.Minute)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		name string
		res  APIResult
	)
	if err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		name, res = in.Client.CreateSession(ctx, in.Project, spec)
		// 4xx other than the backend restarting (no answer) will not fix itself.
		if !res.OK() && res.Err == nil && res.Status >= 400 && res.Status < 500 {
			return false, fmt.Errorf("create session in project %q: %w", in.Project, res.Error())
		}
		return res.OK(), nil
	}); err != nil {
		if wait.Interrupted(err) {
			return SessionRef{}, fmt.Errorf("create session in project %q within %s: %w", in.Project, timeout, res.Error())
		}
		return SessionRef{}, err
	}
	ref := SessionRef{Project: in.Project, Name: name}
	if in.Ledger != nil && in.Role != "" {
		in.Ledger.SetSessionRole(ref.Project, ref.Name, in.Role)
	}
	// Any other end (Failed, Completed, a pod that cannot run) is a dead session.
	_, err := in.Client.WaitForSessionPhase(ctx, WaitForSessionPhaseInput{
		Session: ref, Phases: []string{PhaseRunning}, Timeout: timeout, PollInterval: in.PollInterval,
	})
	return ref, err
}

// RestartSessionInput is the input for RestartSession.
type RestartSessionInput struct {
	Client  *Client
	Ledger  *ledger.Ledger
	Session SessionRef
	// StopTimeout to reach Stopped and StartTimeout to reach Running or Failed (default 3 min each).
	StopTimeout  time.Duration
	StartTimeout time.Duration
	// PollInterval between status reads (default 1 s).
	PollInterval time.Duration
	// StopPollInterval between reads of the old runner pod, which time its
	// stop (default 250 ms; needs a client WithKubernetes).
	StopPollInterval time.Duration
}

// RestartResult is where a restarted session ended up.
type RestartResult struct {
	Phase string
	// ReadyReason and ReadyMessage come from the Ready condition, e.g.
	// CreateContainerConfigError / "couldn't find key agui-token in Secret …" (docs/platform.md §3.5 item 7).
	ReadyReason  string
	ReadyMessage string
	// Stop is how long the old runner pod took to stop.
	Stop RunnerStop
}

// RunnerStop is how long a session's runner pod took to stop: from the stop
// request until the pod was gone from the API. A runner that holds its
// streams open on SIGTERM stops only when its grace period runs out (60 s,
// docs/platform.md §11 item 4): a finding worth showing, not a harness delay.
type RunnerStop struct {
	// Pod is namespace/name of the old runner pod.
	Pod string `json:"pod,omitempty"`
	// Measured is false when the stop could not be timed (Reason says why).
	Measured bool          `json:"measured"`
	Took     time.Duration `json:"tookNs,omitempty"`
	// GracePeriod is the pod's grace period (as its deletion set it, else its spec's).
	GracePeriod time.Duration `json:"gracePeriodNs,omitempty"`
	// HitGracePeriod: the pod went only once its grace period had run out,
	// so the kubelet killed the runner rather than the runner exiting.
	HitGracePeriod bool `json:"hitGracePeriod,omitempty"`
	// Reason is the one line reports show, e.g. "runner took 60 s to stop: grace period".
	Reason string `json:"reason"`
}

func (s RunnerStop) String() string { return s.Reason }

// gracePeriodSlack: a pod gone this close to its grace period (or later) ran
// it out; the kubelet's kill and the API's removal add well under a second.
const gracePeriodSlack = time.Second

// describe fills Reason from the figures.
func (s *RunnerStop) describe() {
	took := fmt.Sprintf("%.1f s", s.Took.Seconds())
	if s.Took >= 10*time.Second {
		took = fmt.Sprintf("%.0f s", s.Took.Seconds())
	}
	s.HitGracePeriod = s.GracePeriod > 0 && s.Took >= s.GracePeriod-gracePeriodSlack
	s.Reason = "runner took " + took + " to stop"
	if s.HitGracePeriod {
		s.Reason += ": grace period"
	}
}

// RestartSession stops the session, waits for Stopped, starts it again and
// reports the phase reached (Running, or Failed with the Ready reason), also
// recorded as a SignalSessionState observation. A Failed restart is a result,
// not an error: it is what the upgrade break looks like. With a client
// WithKubernetes it also times the old runner pod's stop (RestartResult.Stop);
// the start is requested at Stopped as before, and the operator starts the
// new pod once the old one is gone.
func RestartSession(ctx context.Context, in RestartSessionInput) (RestartResult, error) {
	if in.Client == nil || in.Session.Project == "" || in.Session.Name == "" {
		return RestartResult{}, errors.New("RestartSessionInput needs Client and a complete Session")
	}
	ref := in.Session
	stopTimeout := durationOr(in.StopTimeout, 3*time.Minute)
	watch := in.Client.watchRunnerStop(ctx, ref, stopTimeout, durationOr(in.StopPollInterval, 250*time.Millisecond))
	defer watch.cancel()
	if res := retryCall(ctx, stopTimeout, func(c context.Context) APIResult { return in.Client.Stop(c, ref) }); !res.OK() {
		return RestartResult{Stop: watch.resultNow()}, fmt.Errorf("stop session %s: %w", ref, res.Error())
	}
	if _, err := in.Client.WaitForSessionPhase(ctx, WaitForSessionPhaseInput{
		Session: ref, Phases: []string{PhaseStopped}, Timeout: in.StopTimeout, PollInterval: in.PollInterval,
	}); err != nil {
		return RestartResult{Stop: watch.resultNow()}, err
	}
	if res := retryCall(ctx, durationOr(in.StartTimeout, 3*time.Minute), func(c context.Context) APIResult { return in.Client.Start(c, ref) }); !res.OK() {
		return RestartResult{Stop: watch.resultNow()}, fmt.Errorf("start session %s: %w", ref, res.Error())
	}
	s, err := in.Client.WaitForSessionPhase(ctx, WaitForSessionPhaseInput{
		Session: ref, Phases: []string{PhaseRunning, PhaseFailed}, StartPhases: []string{PhaseStopped},
		Timeout: in.StartTimeout, PollInterval: in.PollInterval,
	})
	if err != nil {
		return RestartResult{Phase: s.Phase, Stop: watch.resultNow()}, err
	}
	out := RestartResult{Phase: s.Phase, Stop: watch.result()}
	if c, ok := s.Condition("Ready"); ok {
		out.ReadyReason, out.ReadyMessage = c.Reason, c.Message
	}
	l := in.Ledger
	if l == nil {
		l = in.Client.ledger
	}
	if l != nil {
		l.Add(ledger.Observation{
			Signal:    ledger.SignalSessionState,
			Source:    "session-restart:" + ref.String(),
			Caller:    ledger.CallerHarness,
			Namespace: ref.Project,
			Session:   ref.Name,
			Detail:    fmt.Sprintf("restart: phase=%s ready.reason=%s ready.message=%s; %s", out.Phase, out.ReadyReason, out.ReadyMessage, out.Stop),
		})
	}
	return out, nil
}

// retryCall repeats a call that found no backend (transport error or 5xx)
// until timeout; any other answer is final.
func retryCall(ctx context.Context, timeout time.Duration, fn func(context.Context) APIResult) APIResult {
	var res APIResult
	_ = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		res = fn(ctx)
		return res.OK() || (res.Err == nil && res.Status > 0 && res.Status < 500), nil
	})
	return res
}
