package verdict

import (
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// DiagnosisClass names the mechanism behind a broken caller→runner pair or a
// restart break, as harness/diagnose establishes it from outside the
// platform: what the caller put on the wire (the wire witness), what the
// runner accepts (black-box probes), where the runner's token comes from
// (its Secret, key and fingerprint), pod status and Secret key names.
// Catalog cells expect classes; Match checks them.
type DiagnosisClass string

const (
	// DiagNoHeader: the caller's requests on the broken families carry no
	// token-like header at all (from the wire).
	DiagNoHeader DiagnosisClass = "no-header"
	// DiagHeaderNameMismatch: the token travels under a header name the
	// runner does not read: the caller sends it as e.g. X-Ambient-Token
	// (from the wire), or the runner rejects it under X-Ambient-Session-Token
	// but accepts it as Authorization: Bearer (from the probe).
	DiagHeaderNameMismatch DiagnosisClass = "header-name-mismatch"
	// DiagWrongToken: the caller sends the right header with a value that is
	// not the runner's Secret's token (from the wire); the diagnosis names
	// whose token it is when the harness can tell.
	DiagWrongToken DiagnosisClass = "wrong-token"
	// DiagGuardsHealth: the runner answers GET /health without a header with
	// 401, so the kubelet's probes (which send none) fail.
	DiagGuardsHealth DiagnosisClass = "guards-health"
	// DiagRunnerRejectsSecretToken: the runner rejects the Secret's own
	// agui-token: it was started with another value (key or Secret mismatch).
	DiagRunnerRejectsSecretToken DiagnosisClass = "runner-rejects-secret-token"
	// DiagCallerSendsNoValidToken: the runner accepts the session Secret's
	// agui-token under X-Ambient-Session-Token and rejects no header, so the
	// caller that got 401 sent no valid token (upstream #1425's real cause).
	// The probe-only fallback when there is no wire evidence: no-header,
	// header-name-mismatch and wrong-token are what it can be (Refines).
	DiagCallerSendsNoValidToken DiagnosisClass = "caller-sends-no-valid-token"
	// DiagNoAuth: the runner accepts a request with no header at all.
	DiagNoAuth DiagnosisClass = "no-auth"
	// DiagAcceptsAnyToken: the runner rejects no header but accepts a wrong token.
	DiagAcceptsAnyToken DiagnosisClass = "accepts-any-token"
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
var DiagnosisClasses = []DiagnosisClass{DiagNoHeader, DiagHeaderNameMismatch, DiagWrongToken, DiagGuardsHealth,
	DiagRunnerRejectsSecretToken, DiagCallerSendsNoValidToken, DiagNoAuth, DiagAcceptsAnyToken, DiagSecretLacksKey,
	DiagRestartFailed, DiagNotProbed}

// Phrase is the class in words, for tables and sentences.
func (c DiagnosisClass) Phrase() string {
	switch c {
	case DiagNoHeader:
		return "no header"
	case DiagHeaderNameMismatch:
		return "header name mismatch"
	case DiagWrongToken:
		return "wrong token value"
	case DiagGuardsHealth:
		return "runner guards /health, so probes fail"
	case DiagRunnerRejectsSecretToken:
		return "runner rejects the Secret's token"
	case DiagCallerSendsNoValidToken:
		return "caller sends no valid token"
	case DiagNoAuth:
		return "no auth"
	case DiagAcceptsAnyToken:
		return "runner accepts any token"
	case DiagSecretLacksKey:
		return "token Secret lacks a key the runner's env requires"
	case DiagRestartFailed:
		return "restart failed"
	case DiagNotProbed:
		return "not probed"
	}
	return string(c)
}

// Refines reports whether c is general, or one of the more precise classes
// general stands for: the wire tells caller-sends-no-valid-token apart into
// no-header, header-name-mismatch and wrong-token, so a cell that expects
// the general class is satisfied by any of them (the reverse is not true:
// the probe-only fallback does not establish an exact class).
func (c DiagnosisClass) Refines(general DiagnosisClass) bool {
	if c == general {
		return true
	}
	return general == DiagCallerSendsNoValidToken && (c == DiagNoHeader || c == DiagHeaderNameMismatch || c == DiagWrongToken)
}

// KnownDiagnosisClass reports whether c is one of DiagnosisClasses.
func KnownDiagnosisClass(c DiagnosisClass) bool { return contains(DiagnosisClasses, c) }

// Diagnosis is one class established for a caller (no caller for a restart
// break), with what it names when the wire tells: the header name the caller
// used (header-name-mismatch) or whose token it sent (wrong-token:
// WrongTokenOtherSession, WrongTokenOtherKey+" <key>" or WrongTokenUnknown).
type Diagnosis struct {
	Caller ledger.Caller  `json:"caller,omitempty"`
	Class  DiagnosisClass `json:"class"`
	Detail string         `json:"detail,omitempty"`
}

// The details of a wrong-token diagnosis: whose token the caller sent.
const (
	WrongTokenOtherSession = "other-session"
	WrongTokenOtherKey     = "other-key" // followed by the key: "other-key k8s-token"
	WrongTokenUnknown      = "unknown"
)

// ValidateDetail says what is wrong with detail as the expected detail of
// class c ("" is always valid: any detail matches).
func ValidateDetail(c DiagnosisClass, detail string) error {
	if detail == "" {
		return nil
	}
	switch c {
	case DiagHeaderNameMismatch:
		if strings.IndexFunc(detail, func(r rune) bool {
			return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) >= 0 {
			return fmt.Errorf("%q is not an HTTP header name (letters, digits, '-' and '_')", detail)
		}
		return nil
	case DiagWrongToken:
		key, isKey := strings.CutPrefix(detail, WrongTokenOtherKey+" ")
		if detail == WrongTokenOtherSession || detail == WrongTokenUnknown || isKey && strings.TrimSpace(key) != "" && !strings.ContainsAny(key, " \t") {
			return nil
		}
		return fmt.Errorf("%q is not whose token (want %s, %s or %s <key>)", detail, WrongTokenOtherSession, WrongTokenUnknown, WrongTokenOtherKey)
	}
	return fmt.Errorf("class %s names no detail (only %s names a header and %s whose token)", c, DiagHeaderNameMismatch, DiagWrongToken)
}

func (d Diagnosis) String() string {
	s := string(d.Class)
	if d.Caller != "" {
		s = string(d.Caller) + " " + s
	}
	if d.Detail != "" {
		s += " (" + d.Detail + ")"
	}
	return s
}

// satisfies reports whether found d meets expectation w: same caller, a
// class that refines w's, and w's detail when it names one (header names
// compare case-insensitively, as HTTP does).
func (d Diagnosis) satisfies(w Diagnosis) bool {
	return d.Caller == w.Caller && d.Class.Refines(w.Class) && (w.Detail == "" || strings.EqualFold(d.Detail, w.Detail))
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
				same = append(same, g.withoutCaller())
				found = found || g.satisfies(w)
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

// withoutCaller is the class and detail: "wrong-token (other-session)".
func (d Diagnosis) withoutCaller() string {
	d.Caller = ""
	return d.String()
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
