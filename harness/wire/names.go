package wire

import (
	"strings"

	"github.com/agnivade/levenshtein"

	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// SessionTokenHeader is the header the runner reads its token from
// (docs/platform.md §3.5).
const SessionTokenHeader = "X-Ambient-Session-Token"

// tokenHeaderModels are the names a token-like header resembles.
var tokenHeaderModels = []string{strings.ToLower(SessionTokenHeader), "authorization"}

// MaxTokenNameDistance is how far (edit distance, case-insensitive) a header
// name may be from a model name and still be fingerprinted.
const MaxTokenNameDistance = 2

// IsTokenLike reports whether a header's value could be a token: its name is
// within MaxTokenNameDistance of X-Ambient-Session-Token or Authorization, or
// contains "token" (a caller that renamed the header entirely, e.g.
// X-Ambient-Token, still sends a token worth a fingerprint), case-insensitive.
func IsTokenLike(name string) bool {
	n := strings.ToLower(name)
	if strings.Contains(n, "token") {
		return true
	}
	for _, m := range tokenHeaderModels {
		if nameDistance(n, m) <= MaxTokenNameDistance {
			return true
		}
	}
	return false
}

// maxNameLen cuts header names before they are compared: header names are
// short, so a hostile one costs little.
const maxNameLen = 256

// nameDistance is the edit distance of two header names (cut at maxNameLen).
func nameDistance(a, b string) int {
	return levenshtein.ComputeDistance(a[:min(len(a), maxNameLen)], b[:min(len(b), maxNameLen)])
}

// TokenHeader is a token-like header as the witness reports it: the name as
// sent and the fingerprint of its value, never the value.
type TokenHeader struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	// Bearer: the value began with "Bearer " (any case), stripped before the
	// fingerprint, so an Authorization header and the session-token header
	// carrying the same token have the same fingerprint.
	Bearer bool `json:"bearer,omitempty"`
	// Empty: the header was sent with an empty value (its fingerprint is
	// that of "").
	Empty bool `json:"empty,omitempty"`
}

// fingerprintHeader turns a token-like header into its report.
func fingerprintHeader(name, value string) TokenHeader {
	v := strings.TrimSpace(value)
	th := TokenHeader{Name: name}
	if len(v) >= 7 && strings.EqualFold(v[:7], "bearer ") {
		th.Bearer = true
		v = strings.TrimSpace(v[7:])
	}
	th.Empty = v == ""
	th.Fingerprint = secrets.Fingerprint(v)
	return th
}
