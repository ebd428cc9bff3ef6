// Package ledger holds the one record of everything a cell observed: every
// detector (runner access logs, platform logs, CR conditions, session events,
// API answers) appends Observations here, and verdict rules read only this.
package ledger

import (
	"sort"
	"sync"
	"time"
)

// Phase is where in the cell an observation was made.
type Phase string

const (
	PhaseBefore Phase = "before" // from release installed, upgrade not started
	PhaseDuring Phase = "during" // upgrade started, rollouts not yet complete
	PhaseAfter  Phase = "after"  // to release fully rolled out
)

// Signal names what kind of evidence an observation is. Values are stable: they
// appear in JSON reports and in verdict rules.
type Signal string

const (
	// SignalRunnerAccess is one uvicorn access line of a runner pod (any status).
	SignalRunnerAccess Signal = "runner-access"
	// SignalRunner401 is an access line with status 401 (contract §8.1).
	SignalRunner401 Signal = "runner-401"
	// SignalRunnerAuthEnabled is "AG-UI token authentication enabled" (§8.1).
	SignalRunnerAuthEnabled Signal = "runner-auth-enabled"
	// SignalBackendProxy401 is "AGUI Proxy: runner returned 401" (§8.2).
	SignalBackendProxy401 Signal = "backend-proxy-401"
	// SignalBackendListener401 is "Between-run listener: runner returned 401" (§8.2).
	SignalBackendListener401 Signal = "backend-listener-401"
	// SignalOperatorWorkflow401 / SignalOperatorRepo401 are the operator lines of §8.6.
	SignalOperatorWorkflow401 Signal = "operator-workflow-401"
	SignalOperatorRepo401     Signal = "operator-repo-401"
	// SignalRunError401 is a RUN_ERROR "Runner error: HTTP 401" event (§8.3).
	SignalRunError401 Signal = "run-error-401"
	// SignalRunEvent is any other AG-UI event seen on a session's event stream.
	SignalRunEvent Signal = "run-event"
	// SignalCondition is a change of a session status condition or phase (§8.5, §8.8).
	SignalCondition Signal = "condition"
	// SignalAPI is the answer of the backend API to harness traffic (§8.4).
	SignalAPI Signal = "api"
	// SignalGap is a stretch of time a watcher could not cover (reconnect failed).
	SignalGap Signal = "gap"
	// SignalSessionState is a point-in-time fact about a session (e.g. Running, Failed).
	SignalSessionState Signal = "session-state"
)

// Caller is who sent a request to a runner.
type Caller string

const (
	CallerBackend  Caller = "backend"
	CallerOperator Caller = "operator"
	CallerHarness  Caller = "harness"
	CallerRunner   Caller = "runner" // e.g. kubelet probes or the runner itself
	CallerKubelet  Caller = "kubelet"
	CallerUnknown  Caller = "unknown"
)

// Observation is one entry of the ledger.
type Observation struct {
	// Time is when the evidence was produced (log timestamp, event time, answer time).
	Time time.Time `json:"time"`
	// Recorded is when the ledger received it; Recorded-Time is detection latency.
	Recorded time.Time `json:"recorded"`
	Phase    Phase     `json:"phase"`
	Signal   Signal    `json:"signal"`
	// Source names the detector and object, e.g. "runner-log:proj-a/session-x-runner".
	Source string `json:"source"`
	Caller Caller `json:"caller,omitempty"`
	// CallerPod is the pod the caller IP belonged to at Time, when known.
	CallerPod string `json:"callerPod,omitempty"`
	Method    string `json:"method,omitempty"`
	// Path is the runner path (e.g. "/", "/events", "/workflow") or API route.
	Path      string `json:"path,omitempty"`
	Status    int    `json:"status,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Session   string `json:"session,omitempty"`
	// Role is the session's part in the cell story (RolePreUpgrade, ...), filled
	// from SetSessionRole when the detector does not know it.
	Role string `json:"role,omitempty"`
	// Detail is the raw line or message, already redacted of token values.
	Detail string `json:"detail,omitempty"`
}

// Ledger is safe for concurrent use by many detectors.
type Ledger struct {
	mu    sync.Mutex
	obs   []Observation
	phase Phase
	now   func() time.Time
	subs  []chan Observation
	roles map[string]string // namespace/session -> role
}

// Session roles used by traffic and verdict rules.
const (
	RolePreUpgrade  = "pre-upgrade"  // created before the upgrade, kept running through it
	RolePostUpgrade = "post-upgrade" // created after the upgrade
	RoleRestarted   = "restarted"    // pre-upgrade session stopped and started after the upgrade
)

// SetSessionRole tags every later observation of namespace/session with role.
func (l *Ledger) SetSessionRole(namespace, session, role string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.roles == nil {
		l.roles = map[string]string{}
	}
	l.roles[namespace+"/"+session] = role
}

// SessionRole returns the role recorded for namespace/session, or "".
func (l *Ledger) SessionRole(namespace, session string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.roles[namespace+"/"+session]
}

// New returns an empty ledger in PhaseBefore.
func New() *Ledger { return &Ledger{phase: PhaseBefore, now: time.Now} }

// SetPhase moves the cell to a new phase; later observations are tagged with it
// unless their Time places them earlier (see Add).
func (l *Ledger) SetPhase(p Phase) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = p
}

// Phase returns the current phase.
func (l *Ledger) Phase() Phase {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase
}

// Add records an observation. Recorded and Phase are filled in when empty.
func (l *Ledger) Add(o Observation) {
	l.mu.Lock()
	if o.Recorded.IsZero() {
		o.Recorded = l.now()
	}
	if o.Time.IsZero() {
		o.Time = o.Recorded
	}
	if o.Phase == "" {
		o.Phase = l.phase
	}
	if o.Role == "" && o.Session != "" {
		o.Role = l.roles[o.Namespace+"/"+o.Session]
	}
	l.obs = append(l.obs, o)
	subs := append([]chan Observation(nil), l.subs...)
	l.mu.Unlock()
	for _, c := range subs {
		select {
		case c <- o:
		default: // a slow subscriber never blocks detectors
		}
	}
}

// Subscribe returns a channel that receives observations added from now on.
func (l *Ledger) Subscribe(buffer int) <-chan Observation {
	c := make(chan Observation, buffer)
	l.mu.Lock()
	l.subs = append(l.subs, c)
	l.mu.Unlock()
	return c
}

// All returns the observations sorted by Time.
func (l *Ledger) All() []Observation {
	l.mu.Lock()
	out := append([]Observation(nil), l.obs...)
	l.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Filter returns the observations for which keep is true, sorted by Time.
func (l *Ledger) Filter(keep func(Observation) bool) []Observation {
	var out []Observation
	for _, o := range l.All() {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out
}
