package verdict

import (
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// DiagnosisClass names the mechanism behind a broken caller→runner pair or a
// restart break, as harness/diagnose establishes it from outside the
// platform (black-box probes of the runner, pod status, Secret key names).
// Catalog cells expect classes; Match checks them.
type DiagnosisClass string

const (
	// DiagCallerSendsNoValidToken: the runner accepts the session Secret's
	// agui-token under X-Ambient-Session-Token and rejects no header, so the
	// caller that got 401 sent no valid token (upstream #1425's real cause).
	DiagCallerSendsNoValidToken DiagnosisClass = "caller-sends-no-valid-token"
	// DiagRunnerRejectsSecretToken: the runner rejects the Secret's own
	// agui-token: it was started with another value (key or Secret mismatch).
	DiagRunnerRejectsSecretToken DiagnosisClass = "runner-rejects-secret-token"
	// DiagHeaderNameMismatch: the runner rejects the token under
	// X-Ambient-Session-Token but accepts it as Authorization: Bearer.
	DiagHeaderNameMismatch DiagnosisClass = "header-name-mismatch"
	// DiagNoAuth: the runner accepts a request with no header at all.
	DiagNoAuth DiagnosisClass = "no-auth"
	// DiagAcceptsAnyToken: the runner rejects no header but accepts a wrong token.
	DiagAcceptsAnyToken DiagnosisClass = "accepts-any-token"
	// DiagHealthGuarded: the runner answers GET /health without a header with
	// 401, so the kubelet's probes (which send none) fail.
	DiagHealthGuarded DiagnosisClass = "health-guarded"
	// DiagSecretLacksKey: a restarted session's runner cannot start because its
	// token Secret lacks a key the container's env requires (docs/platform.md §3.5 item 7).
	DiagSecretLacksKey DiagnosisClass = "secret-lacks-key"
	// DiagRestartFailed: a restarted session failed for another reason (named
	// in the diagnosis).
	DiagRestartFailed DiagnosisClass = "restart-failed"
	// DiagNotProbed: the pair could not be probed (its runner pod was gone or
	// the probe did not run); the diagnosis says why. Never a guess.
	DiagNotProbed DiagnosisClass = "not-probed"
)

// DiagnosisClasses lists every class, in the order reports explain them.
var DiagnosisClasses = []DiagnosisClass{DiagCallerSendsNoValidToken, DiagRunnerRejectsSecretToken, DiagHeaderNameMismatch,
	DiagNoAuth, DiagAcceptsAnyToken, DiagHealthGuarded, DiagSecretLacksKey, DiagRestartFailed, DiagNotProbed}

// Phrase is the class in words, for tables and sentences.
func (c DiagnosisClass) Phrase() string {
	switch c {
	case DiagCallerSendsNoValidToken:
		return "caller sends no valid token"
	case DiagRunnerRejectsSecretToken:
		return "runner rejects the Secret's token"
	case DiagHeaderNameMismatch:
		return "header name mismatch"
	case DiagNoAuth:
		return "no auth"
	case DiagAcceptsAnyToken:
		return "runner accepts any token"
	case DiagHealthGuarded:
		return "runner guards /health, so probes fail"
	case DiagSecretLacksKey:
		return "token Secret lacks a key the runner's env requires"
	case DiagRestartFailed:
		return "restart failed"
	case DiagNotProbed:
		return "not probed"
	}
	return string(c)
}

// KnownDiagnosisClass reports whether c is one of DiagnosisClasses.
func KnownDiagnosisClass(c DiagnosisClass) bool { return contains(DiagnosisClasses, c) }

// Diagnosis is one class established for a caller (no caller for a restart break).
type Diagnosis struct {
	Caller ledger.Caller  `json:"caller,omitempty"`
	Class  DiagnosisClass `json:"class"`
}

func (d Diagnosis) String() string {
	if d.Caller == "" {
		return string(d.Class)
	}
	return string(d.Caller) + " " + string(d.Class)
}

// matchDiagnoses checks every expected diagnosis against what was found; got
// is nil when the cell was not diagnosed at all.
func matchDiagnoses(got, want []Diagnosis) []string {
	var diffs []string
	for _, w := range want {
		found := false
		var same []string
		for _, g := range got {
			if g.Caller == w.Caller {
				same = append(same, string(g.Class))
				found = found || g.Class == w.Class
			}
		}
		switch {
		case found:
		case got == nil:
			diffs = append(diffs, fmt.Sprintf("expected diagnosis %s, but the cell was not diagnosed", w))
		case len(same) == 0:
			diffs = append(diffs, fmt.Sprintf("expected diagnosis %s, got none for %s (diagnosed: %s)", w, callerOrRestart(w.Caller), diagnosesText(got)))
		default:
			diffs = append(diffs, fmt.Sprintf("expected diagnosis %s, got %s for %s", w, strings.Join(same, ", "), callerOrRestart(w.Caller)))
		}
	}
	return diffs
}

func callerOrRestart(c ledger.Caller) string {
	if c == "" {
		return "the restart"
	}
	return string(c)
}

func diagnosesText(ds []Diagnosis) string {
	if len(ds) == 0 {
		return "nothing"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, "; ")
}
