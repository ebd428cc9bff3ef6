package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// WitnessDown reports whether o says the wire witness could not run (or
// stopped), its Detail why.
func WitnessDown(o ledger.Observation) bool {
	return (o.Signal == ledger.SignalWireUnavailable || o.Signal == ledger.SignalGap) && strings.HasPrefix(o.Source, ledger.SourceWireWitness)
}

// Basis says what a pair's class rests on.
type Basis string

const (
	// BasisWire: the caller's requests as the wire witness saw them, joined
	// with the runner's Secret (and the probe when it ran).
	BasisWire Basis = "wire"
	// BasisProbe: from the probe only (no wire evidence for the pair; the
	// pair's WireNote says why).
	BasisProbe Basis = "probe"
)

// maxEvidence bounds the wire lines a pair quotes (the bundle's wire.jsonl has all).
const maxEvidence = 4

// WireStatus is whether the wire witness covered the cell.
type WireStatus struct {
	// Requests is how many requests to runners it recorded.
	Requests int `json:"requests"`
	// Gap says why it could not run ("" when it did).
	Gap string `json:"gap,omitempty"`
}

// NewWireStatus reads the witness's entries of a ledger.
func NewWireStatus(obs []ledger.Observation) WireStatus {
	var w WireStatus
	for _, o := range obs {
		switch {
		case o.Signal == ledger.SignalWireRequest && o.Wire != nil:
			w.Requests++
		case WitnessDown(o) && w.Gap == "":
			w.Gap = orUnknown(o.Detail)
		}
	}
	return w
}

// note is why a pair has no wire evidence, for its "from the probe only" mark.
func (w WireStatus) note() string {
	switch {
	case w.Gap != "":
		return "the wire witness did not run: " + w.Gap
	case w.Requests == 0:
		return "the wire witness recorded no request in this cell"
	}
	return "the wire witness saw none of this pair's requests"
}

// TokenOrigin is where a token value lives: a key of a session's token
// Secret, by fingerprint (never the value).
type TokenOrigin struct {
	Namespace   string `json:"namespace,omitempty"`
	Secret      string `json:"secret,omitempty"`
	Key         string `json:"key,omitempty"`
	Fingerprint string `json:"fingerprint"`
	// Whose relates it to the runner the request went to: "own" (the
	// runner's session's Secret, the key callers read), "other-key" (another
	// key of that Secret), "other-session" (another session's Secret) or
	// "unknown" (no token Secret the harness could read holds it).
	Whose string `json:"whose,omitempty"`
}

// The values of TokenOrigin.Whose.
const (
	WhoseOwn          = "own"
	WhoseOtherKey     = "other-key"
	WhoseOtherSession = "other-session"
	WhoseUnknown      = "unknown"
)

// Text is the origin in words: "Secret ambient-runner-token-s2 key agui-token (sha256:…)".
func (t TokenOrigin) Text() string {
	if t.Secret == "" {
		return "a value of no token Secret the harness could read (" + t.Fingerprint + ")"
	}
	return fmt.Sprintf("Secret %s key %s (%s)", t.Secret, t.Key, t.Fingerprint)
}

// TokenIndex maps fingerprints of the values in the session token Secrets
// to where they are. It holds fingerprints only.
type TokenIndex struct {
	byFP  map[string][]TokenOrigin
	byKey map[string]TokenOrigin // namespace/secret/key
	// Error says why some Secrets could not be read ("" when all were).
	Error string
}

// NewTokenIndex fingerprints every key of the given token Secrets, as stored
// and trimmed (callers differ: the backend sends the value as stored, the
// operator trims it).
func NewTokenIndex(list []corev1.Secret) TokenIndex {
	ix := TokenIndex{byFP: map[string][]TokenOrigin{}, byKey: map[string]TokenOrigin{}}
	for _, s := range list {
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := string(s.Data[k])
			if v == "" {
				continue
			}
			o := TokenOrigin{Namespace: s.Namespace, Secret: s.Name, Key: k, Fingerprint: secrets.Fingerprint(v)}
			ix.byKey[s.Namespace+"/"+s.Name+"/"+k] = o
			ix.byFP[o.Fingerprint] = append(ix.byFP[o.Fingerprint], o)
			if t := strings.TrimSpace(v); t != v && t != "" {
				trimmed := o
				trimmed.Fingerprint = secrets.Fingerprint(t)
				ix.byFP[trimmed.Fingerprint] = append(ix.byFP[trimmed.Fingerprint], trimmed)
			}
		}
	}
	return ix
}

// ReadTokenIndex lists the session token Secrets of namespaces.
func ReadTokenIndex(ctx context.Context, kube kubernetes.Interface, namespaces []string) TokenIndex {
	var list []corev1.Secret
	var errs []string
	for _, ns := range namespaces {
		secs, err := kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Sprintf("list Secrets in %s: %v", ns, err))
			continue
		}
		for _, s := range secs.Items {
			if strings.HasPrefix(s.Name, platform.RunnerTokenSecretPrefix) {
				list = append(list, s)
			}
		}
	}
	ix := NewTokenIndex(list)
	ix.Error = strings.Join(errs, "; ")
	return ix
}

// Key is the origin of namespace/secret/key (false when the index lacks it).
func (ix TokenIndex) Key(namespace, secret, key string) (TokenOrigin, bool) {
	o, ok := ix.byKey[namespace+"/"+secret+"/"+key]
	return o, ok
}

// Whose says where fingerprint fp lives, seen from the runner whose token
// Secret is namespace/secret: its own key callers read, another key of it,
// another session's Secret, or unknown.
func (ix TokenIndex) Whose(fp, namespace, secret string) TokenOrigin {
	cands := ix.byFP[fp]
	rank := func(o TokenOrigin) (int, string) {
		switch {
		case o.Namespace == namespace && o.Secret == secret && o.Key == platform.AGUITokenKey:
			return 0, WhoseOwn
		case o.Namespace == namespace && o.Secret == secret:
			return 1, WhoseOtherKey
		}
		return 2, WhoseOtherSession
	}
	best, bestRank := TokenOrigin{Fingerprint: fp, Whose: WhoseUnknown}, 3
	for _, o := range cands {
		if r, whose := rank(o); r < bestRank {
			best, bestRank = o, r
			best.Whose = whose
		}
	}
	return best
}

// sessionOfSecret is the session a token Secret belongs to.
func sessionOfSecret(name string) string {
	return strings.TrimPrefix(name, platform.RunnerTokenSecretPrefix)
}

// WireRunner is what the join needs to know of one runner pod: its session
// and the Secret key its AGUI_TOKEN names ("" for the contract's agui-token).
type WireRunner struct {
	Namespace, Session string
	EnvSecret, EnvKey  string
}

// secret is the runner's token Secret (the one its env names, else its session's).
func (r WireRunner) secret() string {
	if r.EnvSecret != "" {
		return r.EnvSecret
	}
	return platform.RunnerTokenSecret(r.Session)
}

func (r WireRunner) key() string {
	if r.EnvKey != "" {
		return r.EnvKey
	}
	return platform.AGUITokenKey
}

// RequestVerdict is what one wire request shows about the caller.
type RequestVerdict struct {
	Class verdict.DiagnosisClass
	// Header is the token-like header name the caller used ("" for none).
	Header string
	// Sent is whose token it sent (wrong-token, runner-rejects-secret-token).
	Sent *TokenOrigin
	// Runner is the value the runner holds (its env's Secret and key).
	Runner *TokenOrigin
	// Detail is the part of the why this request decides.
	Detail string
}

// JudgeRequest classifies one request that got 401 by what the caller sent
// and what the runner holds: no token-like header; the token under another
// header name than the runner reads; the right header with a value that is
// not the runner's session's agui-token (whose it is, from the index); or
// the right header with the session's own agui-token, which the runner
// rejects (it holds another value: its env names another key or Secret).
// ok is false when the runner's Secret is not in the index (nothing to
// compare the fingerprint with).
func JudgeRequest(o ledger.Observation, rn WireRunner, ix TokenIndex) (RequestVerdict, bool) {
	w := o.Wire
	if w != nil && len(w.TokenHeaders) == 0 {
		// A name the witness did not take for a token header but that says
		// it is one (e.g. X-Auth-Key): another name, value unseen.
		for _, name := range w.HeaderNames {
			if n := strings.ToLower(name); strings.Contains(n, "token") || strings.Contains(n, "auth") {
				return RequestVerdict{Class: verdict.DiagHeaderNameMismatch, Header: name,
					Detail: fmt.Sprintf("the caller sends %s (no fingerprint recorded), the runner reads %s", name, platform.SessionTokenHeader)}, true
			}
		}
	}
	if w == nil || len(w.TokenHeaders) == 0 {
		names := "none"
		if w != nil && len(w.HeaderNames) > 0 {
			names = strings.Join(w.HeaderNames, ", ")
		}
		return RequestVerdict{Class: verdict.DiagNoHeader,
			Detail: fmt.Sprintf("its requests carry no token-like header (headers: %s)", names)}, true
	}
	var right *ledger.WireTokenHeader
	for i, h := range w.TokenHeaders {
		if strings.EqualFold(h.Name, platform.SessionTokenHeader) {
			right = &w.TokenHeaders[i]
			break
		}
	}
	if right == nil {
		h := w.TokenHeaders[0]
		return RequestVerdict{Class: verdict.DiagHeaderNameMismatch, Header: h.Name,
			Detail: fmt.Sprintf("the caller sends the token as %s (%s), the runner reads %s", h.Name, h.Fingerprint, platform.SessionTokenHeader)}, true
	}
	secret := platform.RunnerTokenSecret(rn.Session)
	own, ok := ix.Key(rn.Namespace, secret, platform.AGUITokenKey)
	if !ok {
		return RequestVerdict{Header: right.Name}, false
	}
	held, heldOK := ix.Key(rn.Namespace, rn.secret(), rn.key())
	if heldOK {
		held.Whose = ix.Whose(held.Fingerprint, rn.Namespace, secret).Whose
	}
	sent := ix.Whose(right.Fingerprint, rn.Namespace, secret)
	v := RequestVerdict{Header: right.Name, Sent: &sent}
	if heldOK {
		v.Runner = &held
	}
	if sent.Fingerprint == own.Fingerprint {
		v.Class = verdict.DiagRunnerRejectsSecretToken
		v.Detail = fmt.Sprintf("the caller sends %s under %s, the runner rejects it", own.Text(), right.Name)
		if heldOK && held.Fingerprint != own.Fingerprint {
			v.Detail += fmt.Sprintf(": it holds %s", held.Text())
		}
		return v, true
	}
	v.Class = verdict.DiagWrongToken
	switch sent.Whose {
	case WhoseOtherKey:
		v.Detail = fmt.Sprintf("the caller sends key %s of the session's own Secret %s (%s) under %s, not %s (%s)",
			sent.Key, sent.Secret, sent.Fingerprint, right.Name, platform.AGUITokenKey, own.Fingerprint)
	case WhoseOtherSession:
		v.Detail = fmt.Sprintf("the caller sends another session's token, %s of session %s/%s, under %s, not %s",
			sent.Text(), sent.Namespace, sessionOfSecret(sent.Secret), right.Name, own.Text())
	default:
		v.Detail = fmt.Sprintf("the caller sends a value (%s) under %s that no token Secret the harness can read holds (a stale value from before a refresh, or unknown), not %s",
			sent.Fingerprint, right.Name, own.Text())
	}
	return v, true
}

// FormatWire is one wire request as an evidence line: time, who sent it
// where, method, path, status, header names and token fingerprints.
func FormatWire(o ledger.Observation) string {
	var b strings.Builder
	b.WriteString(o.Time.UTC().Format("15:04:05.000"))
	b.WriteString(" " + side(string(orCaller(o.Caller)), o.CallerRelease))
	if o.CallerPod != "" {
		b.WriteString(" (" + o.CallerPod + ")")
	}
	b.WriteString(" → ")
	if o.RunnerPod != "" {
		b.WriteString(o.RunnerPod)
	} else {
		b.WriteString("runner")
	}
	fmt.Fprintf(&b, " %s %s", orUnknown(o.Method), orUnknown(o.Path))
	if o.Status != 0 {
		fmt.Fprintf(&b, " → %d", o.Status)
	} else {
		b.WriteString(" → status not seen")
	}
	if o.Wire == nil {
		return b.String()
	}
	fmt.Fprintf(&b, "; headers: %s", keysText(o.Wire.HeaderNames))
	if len(o.Wire.TokenHeaders) == 0 {
		b.WriteString("; no token-like header")
	}
	for _, h := range o.Wire.TokenHeaders {
		bearer := ""
		if h.Bearer {
			bearer = "Bearer "
		}
		fmt.Fprintf(&b, "; %s: %s%s", h.Name, bearer, h.Fingerprint)
	}
	return b.String()
}

func orCaller(c ledger.Caller) ledger.Caller {
	if c == "" {
		return ledger.CallerUnknown
	}
	return c
}

// wireRequestsOf are the wire requests of one pair on one family: those the
// runner answered 401, else (when the witness saw no status) those without
// a status.
func wireRequestsOf(obs []ledger.Observation, k pairKey, family string) []ledger.Observation {
	var got401, noStatus []ledger.Observation
	for _, o := range obs {
		if o.Signal != ledger.SignalWireRequest || o.Wire == nil || orCaller(o.Caller) != k.caller ||
			o.CallerRelease != k.callerRelease || o.RunnerRelease != k.runnerRelease || platform.PathFamily(o.Path) != family {
			continue
		}
		switch o.Status {
		case 401:
			got401 = append(got401, o)
		case 0:
			noStatus = append(noStatus, o)
		}
	}
	if len(got401) > 0 {
		return got401
	}
	return noStatus
}

// familyJudgement is what the wire shows for one family of a pair.
type familyJudgement struct {
	family   string
	class    verdict.DiagnosisClass
	verdicts []RequestVerdict
	requests []ledger.Observation
	// mixed counts the requests of other classes.
	mixed map[verdict.DiagnosisClass]int
}

// judgeFamily classifies a family's requests; the family's class is the
// class of most of them. ok is false when no request could be judged.
func judgeFamily(family string, reqs []ledger.Observation, runnerOf func(ledger.Observation) WireRunner, ix TokenIndex) (familyJudgement, bool) {
	j := familyJudgement{family: family, mixed: map[verdict.DiagnosisClass]int{}}
	counts := map[verdict.DiagnosisClass]int{}
	var judged []RequestVerdict
	var judgedReqs []ledger.Observation
	for _, o := range reqs {
		v, ok := JudgeRequest(o, runnerOf(o), ix)
		if !ok {
			continue
		}
		counts[v.Class]++
		judged = append(judged, v)
		judgedReqs = append(judgedReqs, o)
	}
	if len(judged) == 0 {
		return j, false
	}
	for _, c := range verdict.DiagnosisClasses {
		if counts[c] > counts[j.class] {
			j.class = c
		}
	}
	for i, v := range judged {
		if v.Class == j.class {
			j.verdicts = append(j.verdicts, v)
			j.requests = append(j.requests, judgedReqs[i])
		} else {
			j.mixed[v.Class]++
		}
	}
	return j, true
}
