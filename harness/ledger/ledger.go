// Package ledger holds the one record of everything a cell observed: every
// detector (runner access logs, platform logs, CR conditions, session events,
// API answers) appends Observations here, and verdict rules read only this.
package ledger

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// Phase is where in the cell an observation was made.
type Phase string

const (
	PhaseBefore Phase = "before" // from release installed, upgrade not started
	PhaseDuring Phase = "during" // upgrade started, rollouts not yet complete
	PhaseAfter  Phase = "after"  // to release fully rolled out
	// A rollback cell then goes back to from in place.
	PhaseRollingBack Phase = "rolling-back" // rollback started, rollouts not yet complete
	PhaseRolledBack  Phase = "rolled-back"  // from release fully rolled out again
)

// Phases lists every phase in cell order.
var Phases = []Phase{PhaseBefore, PhaseDuring, PhaseAfter, PhaseRollingBack, PhaseRolledBack}

// Signal names what kind of evidence an observation is. Values are stable: they
// appear in JSON reports and in verdict rules.
type Signal string

const (
	// SignalRunnerAccess is one uvicorn access line of a runner pod (any status).
	SignalRunnerAccess Signal = "runner-access"
	// SignalRunner401 is an access line with status 401 (docs/platform.md §8.1).
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
	// SignalUnansweredByRunner is a runner error a caller reported (e.g. the
	// operator's "non-200 for workflow change: 404") that no runner logged: the
	// request went somewhere else, so the cell cannot tell what the runner did.
	SignalUnansweredByRunner Signal = "unanswered-by-runner"
	// SignalFault is a fault a test injected on purpose (harness/chaos): what,
	// on which object, and when, so a reader of the ledger sees the cause of
	// the gaps and restarts around it.
	SignalFault Signal = "fault"
	// SignalSpecChangeRefused is a spec change (select workflow, add or
	// remove a repo) the backend still refused after the harness retried it
	// as a user's client would: the operator never saw it, so its call
	// family counts as not exercised in that phase.
	SignalSpecChangeRefused Signal = "spec-change-refused"
	// SignalWireRequest is one HTTP request to a runner pod as the wire
	// witness saw it in the node's network namespace: who sent it, where,
	// the names of its headers and, for token-like headers, fingerprints of
	// their values (never a value). Status is the runner's answer when the
	// witness saw it, 0 otherwise.
	SignalWireRequest Signal = "wire-request"
	// SignalWireUnavailable: the wire witness could not run (or stopped
	// early) on a node, Detail says why; from Time on its requests are
	// missing there and diagnosis falls back to the runner probe. Not a
	// coverage gap of the verdict: the witness is evidence for diagnosis only.
	SignalWireUnavailable Signal = "wire-unavailable"
)

// SourceWireWitness is the Source of the wire witness's entries, or their
// prefix ("wire-witness:<node>"): the capture (harness/wire) writes it, the
// diagnosis reads it.
const SourceWireWitness = "wire-witness"

const ()

// Unauthorized lists the signals that report a runner 401 (the runner's own
// access line and what callers and event streams say of it, docs/platform.md §8).
var Unauthorized = []Signal{SignalRunner401, SignalBackendProxy401, SignalBackendListener401,
	SignalOperatorWorkflow401, SignalOperatorRepo401, SignalRunError401}

// Class says whether a runner 401 is the from release's own known state or
// something the upgrade caused.
type Class string

const (
	// ClassFromRelease: caller and runner both ran the from release and the
	// baseline before the upgrade showed the same caller and family failing.
	ClassFromRelease Class = "from-release"
	// ClassUpgrade: every other 401 (one side runs to, a mixed-version window,
	// or the baseline for that caller and family was fine).
	ClassUpgrade Class = "upgrade"
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
	// CallerPod is the pod the caller IP belonged to at Time, when known, with
	// the image its caller container ran and the catalog release that image
	// belongs to ("v0.2.2", a candidate's name, or "unknown").
	CallerPod     string `json:"callerPod,omitempty"`
	CallerImage   string `json:"callerImage,omitempty"`
	CallerRelease string `json:"callerRelease,omitempty"`
	// CallerCreated and RunnerCreated are the pods' creation times, when
	// known: the release of a pod is what was deployed when it was created
	// (see ComponentReleasedAt). Inputs to attribution, not reported.
	CallerCreated time.Time `json:"-"`
	RunnerCreated time.Time `json:"-"`
	// RunnerPod is the runner pod the call reached (or was meant for), with its
	// runner image and release.
	RunnerPod     string `json:"runnerPod,omitempty"`
	RunnerImage   string `json:"runnerImage,omitempty"`
	RunnerRelease string `json:"runnerRelease,omitempty"`
	Method        string `json:"method,omitempty"`
	// Path is the runner path (e.g. "/", "/events", "/workflow") or API route.
	Path      string `json:"path,omitempty"`
	Status    int    `json:"status,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Session   string `json:"session,omitempty"`
	// Role is the session's part in the cell story (RolePreUpgrade, ...) at
	// Time, filled from SetSessionRole/MarkSessionRole when the detector does
	// not know it.
	Role string `json:"role,omitempty"`
	// Detail is the raw line or message, already redacted of token values.
	Detail string `json:"detail,omitempty"`
	// Class is set on runner 401 signals once the cell is judged.
	Class Class `json:"class,omitempty"`
	// Wire is what the caller sent, on SignalWireRequest observations only.
	Wire *WireRequest `json:"wire,omitempty"`
}

// WireRequest is what a caller put on the wire in one request to a runner:
// the evidence that tells "no header" from "another header name" from "the
// wrong token" (docs/platform.md §3.5).
type WireRequest struct {
	// HeaderNames are the request's header names as sent, in order.
	HeaderNames []string `json:"headerNames"`
	// TokenHeaders are the headers whose value could be a token (the session
	// token header, Authorization, or a name within edit distance 2 of
	// either, case-insensitive), each with the fingerprint of its value.
	TokenHeaders []WireTokenHeader `json:"tokenHeaders,omitempty"`
	// SrcIP and DstIP are the connection's addresses (caller and runner pod IPs).
	SrcIP string `json:"srcIP"`
	DstIP string `json:"dstIP"`
}

// WireTokenHeader is one token-like header: its name as sent and the
// fingerprint of its value (secrets.Fingerprint of the value after any
// "Bearer " prefix), never the value.
type WireTokenHeader struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	// Bearer: the value had the "Bearer " prefix (Authorization style).
	Bearer bool `json:"bearer,omitempty"`
}

// IsUnauthorized reports whether o reports a runner 401.
func (o Observation) IsUnauthorized() bool {
	for _, s := range Unauthorized {
		if o.Signal == s {
			return true
		}
	}
	return false
}

// Ledger is safe for concurrent use by many detectors.
type Ledger struct {
	mu    sync.Mutex
	obs   []Observation
	phase Phase
	// marks are when each phase began, in order; an observation whose Time
	// lies before a mark belongs to the phase before it (lines read late,
	// event replays).
	marks     []phaseMark
	now       func() time.Time
	subs      []chan Observation
	roles     map[string][]RoleSpan // namespace/session -> roles held, oldest first
	releaseOf func(image string) string
	// deployed are the rollout records per component, oldest first.
	deployed map[Caller][]componentRelease
}

// componentRelease is one switch of a component to a release.
type componentRelease struct {
	release string
	at      time.Time
	images  []string
}

type phaseMark struct {
	phase Phase
	at    time.Time
}

// Session roles used by traffic and verdict rules.
const (
	RolePreUpgrade  = "pre-upgrade"  // created before the upgrade, kept running through it
	RolePostUpgrade = "post-upgrade" // created after the upgrade
	RoleRestarted   = "restarted"    // pre-upgrade session stopped and started after the upgrade
)

// RoleSpan is one role a session held, from Since until the next span's Since.
type RoleSpan struct {
	Role  string    `json:"role"`
	Since time.Time `json:"since"`
}

// SetSessionRole records that namespace/session holds role from now on; see
// MarkSessionRole.
func (l *Ledger) SetSessionRole(namespace, session, role string) {
	l.MarkSessionRole(namespace, session, role, l.now())
}

// MarkSessionRole records that namespace/session holds role from at on. The
// earlier roles are kept: an observation is tagged with the role its session
// held at the observation's Time (the first role, for one before any), so a
// line read late still counts for the role the session had when it was
// written.
func (l *Ledger) MarkSessionRole(namespace, session, role string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.roles == nil {
		l.roles = map[string][]RoleSpan{}
	}
	k := namespace + "/" + session
	spans := append(l.roles[k], RoleSpan{Role: role, Since: at})
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].Since.Before(spans[j].Since) })
	l.roles[k] = spans
}

// SessionRole returns the latest role recorded for namespace/session, or "".
func (l *Ledger) SessionRole(namespace, session string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	spans := l.roles[namespace+"/"+session]
	if len(spans) == 0 {
		return ""
	}
	return spans[len(spans)-1].Role
}

// SessionRoles returns every role namespace/session held, oldest first.
func (l *Ledger) SessionRoles(namespace, session string) []RoleSpan {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RoleSpan(nil), l.roles[namespace+"/"+session]...)
}

// roleAtLocked is the role namespace/session held at t.
func (l *Ledger) roleAtLocked(key string, t time.Time) string {
	spans := l.roles[key]
	if len(spans) == 0 {
		return ""
	}
	role := spans[0].Role
	for _, s := range spans[1:] {
		if t.Before(s.Since) {
			break
		}
		role = s.Role
	}
	return role
}

// New returns an empty ledger in PhaseBefore.
func New() *Ledger { return &Ledger{phase: PhaseBefore, now: time.Now} }

// SetPhase moves the cell to phase p now; see MarkPhase.
func (l *Ledger) SetPhase(p Phase) { l.MarkPhase(p, l.now()) }

// MarkPhase records that phase p began at t. Observations are placed in the
// phase their own Time falls into, so the cell has one phase clock.
func (l *Ledger) MarkPhase(p Phase, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = p
	l.marks = append(l.marks, phaseMark{phase: p, at: at})
}

// PhaseAt returns the phase time t falls into.
func (l *Ledger) PhaseAt(t time.Time) Phase {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phaseAtLocked(t)
}

func (l *Ledger) phaseAtLocked(t time.Time) Phase {
	p := PhaseBefore
	for _, m := range l.marks {
		if t.Before(m.at) {
			break
		}
		p = m.phase
	}
	return p
}

// PhaseStarted returns when phase p began (false when it has not).
func (l *Ledger) PhaseStarted(p Phase) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.marks {
		if m.phase == p {
			return m.at, true
		}
	}
	return time.Time{}, false
}

// SetReleaseOf tells the ledger which catalog release an image belongs to, so
// entries that name a caller or runner image are attributed (Add fills
// CallerRelease and RunnerRelease).
func (l *Ledger) SetReleaseOf(f func(image string) string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseOf = f
}

// ComponentReleasedAt records that component (operator, backend or runner)
// was switched to release at time at, deploying images (for the runner: the
// image its pin names). A pod of that component created then or later, up
// to the next switch, runs release when its image is one of images, whatever
// other release also ships that image: a candidate reusing an image of the
// from release does not make the pre-upgrade pods the candidate's. A pod
// whose image is not among them (e.g. a runner created before the operator
// picked up a new pin) is attributed by its image (SetReleaseOf). A pod
// created before the first record counts under the first.
func (l *Ledger) ComponentReleasedAt(component Caller, release string, at time.Time, images ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deployed == nil {
		l.deployed = map[Caller][]componentRelease{}
	}
	list := append(l.deployed[component], componentRelease{release: release, at: at, images: images})
	sort.SliceStable(list, func(i, j int) bool { return list[i].at.Before(list[j].at) })
	l.deployed[component] = list
}

// releaseOfPodLocked is the release of a pod of component created at created
// running image; see ComponentReleasedAt.
func (l *Ledger) releaseOfPodLocked(component Caller, image string, created time.Time) string {
	byImage := ""
	if l.releaseOf != nil {
		byImage = l.releaseOf(image)
	}
	list := l.deployed[component]
	if created.IsZero() || len(list) == 0 {
		return byImage
	}
	rec := list[0]
	for _, r := range list[1:] {
		if created.Before(r.at) {
			break
		}
		rec = r
	}
	for _, img := range rec.images {
		if sameImage(img, image) {
			// The image label may be more precise (an override of this release).
			if strings.HasPrefix(byImage, rec.release+"+") {
				return byImage
			}
			return rec.release
		}
	}
	return byImage
}

// sameImage compares image references the way registries resolve them: an
// implicit docker.io/library/, localhost/ (images imported without a
// registry) and :latest make no difference.
func sameImage(a, b string) bool { return normalImage(a) == normalImage(b) }

func normalImage(ref string) string {
	ref = strings.TrimSpace(ref)
	for _, p := range []string{"docker.io/library/", "docker.io/", "index.docker.io/library/", "index.docker.io/", "localhost/"} {
		if strings.HasPrefix(ref, p) {
			ref = strings.TrimPrefix(ref, p)
			break
		}
	}
	name := ref
	if i := strings.Index(name, "@"); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndex(name, "/"); !strings.Contains(name[i+1:], ":") && !strings.Contains(ref, "@") {
		ref += ":latest"
	}
	return strings.TrimPrefix(ref, "library/")
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
		o.Phase = l.phaseAtLocked(o.Time)
	}
	if o.CallerRelease == "" && o.CallerImage != "" {
		o.CallerRelease = l.releaseOfPodLocked(o.Caller, o.CallerImage, o.CallerCreated)
	}
	if o.RunnerRelease == "" && o.RunnerImage != "" {
		o.RunnerRelease = l.releaseOfPodLocked(CallerRunner, o.RunnerImage, o.RunnerCreated)
	}
	if o.Role == "" && o.Session != "" {
		o.Role = l.roleAtLocked(o.Namespace+"/"+o.Session, o.Time)
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
