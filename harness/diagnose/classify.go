// Package diagnose says which component pair breaks and why. Three parts:
//
//   - Findings: for a failed cell, the mechanism behind every broken
//     caller→runner pair, established by the black-box runner probe (package
//     probe), and every restart break, read from pod status, events and Secret
//     key names (Diagnose);
//   - Compat: the compatibility sweep's data (package sweep runs it): every
//     combination of operator, backend and runner versions from two releases,
//     as a table and one sentence naming the culprit pairs;
//   - Score: how many seeded faults the harness detected, attributed and
//     diagnosed, and its false alarms on control cells.
//
// The data types are plain structs (JSON in results.json and compat.json) that
// reports render; nothing here guesses: what could not be established is
// reported as not probed, with the reason.
package diagnose

import (
	"fmt"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/probe"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// RunnerVerdict is what one runner's probe shows.
type RunnerVerdict struct {
	Class verdict.DiagnosisClass `json:"class"`
	// HealthGuarded: GET /health without a header got 401 (the kubelet's probes fail).
	HealthGuarded bool `json:"healthGuarded,omitempty"`
	// Why is one sentence with the answers that decided.
	Why string `json:"why"`
}

// ClassifyRunner reads a probe report: (a) no header, (b) the Secret's
// agui-token under X-Ambient-Session-Token, (c) a wrong token, (d) the token
// as Authorization: Bearer, (e) GET /health with no header.
func ClassifyRunner(rep probe.Report) RunnerVerdict {
	get := func(name string) probe.Answer { a, _ := rep.Answer(name); return a }
	a, b, c, d, e := get(probe.RequestNoHeader), get(probe.RequestSecretToken), get(probe.RequestWrongToken), get(probe.RequestBearer), get(probe.RequestHealth)
	v := RunnerVerdict{HealthGuarded: e.Rejected()}
	secret := rep.Target.Secret
	token := fmt.Sprintf("the Secret's %s (%s)", rep.Target.Key, orUnknown(rep.TokenFingerprint))
	switch {
	case a.Status == 0:
		v.Class = verdict.DiagNotProbed
		v.Why = fmt.Sprintf("the runner did not answer the probe: %s", orUnknown(a.Error))
	case a.Accepted():
		v.Class = verdict.DiagNoAuth
		v.Why = fmt.Sprintf("the runner answers a request with no header (%d): it checks no token", a.Status)
	case c.Accepted():
		v.Class = verdict.DiagAcceptsAnyToken
		v.Why = fmt.Sprintf("the runner rejects no header (401) but accepts a wrong token (%d)", c.Status)
	case rep.SecretError != "":
		v.Class = verdict.DiagNotProbed
		v.Why = fmt.Sprintf("the runner rejects no header (401), but Secret %s could not be read: %s", secret, rep.SecretError)
	case b.Skipped != "":
		v.Class = verdict.DiagRunnerRejectsSecretToken
		v.Why = fmt.Sprintf("the runner rejects no header (401), and Secret %s has no key %s to send (keys: %s): no caller can hold its token", secret, rep.Target.Key, keysText(rep.SecretKeys))
	case b.Accepted():
		v.Class = verdict.DiagCallerSendsNoValidToken
		v.Why = fmt.Sprintf("the runner accepts %s under %s (%d) and rejects no header (401): the caller sends no valid token", token, platform.SessionTokenHeader, b.Status)
	case b.Rejected() && d.Accepted():
		v.Class = verdict.DiagHeaderNameMismatch
		v.Why = fmt.Sprintf("the runner rejects %s under %s (401) but accepts it as Authorization: Bearer (%d): it reads another header", token, platform.SessionTokenHeader, d.Status)
	case b.Rejected():
		v.Class = verdict.DiagRunnerRejectsSecretToken
		v.Why = fmt.Sprintf("the runner rejects %s under %s and as Bearer (401): it was started with another value", token, platform.SessionTokenHeader)
	default:
		v.Class = verdict.DiagNotProbed
		v.Why = fmt.Sprintf("the runner did not answer the token request: %s", orUnknown(b.Error))
	}
	if v.HealthGuarded {
		v.Why += "; GET /health without a header got 401, so the kubelet's probes fail"
	}
	return v
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func keysText(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}
