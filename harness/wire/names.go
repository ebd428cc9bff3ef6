package wire

import (
	"strings"

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
		if EditDistance(n, m) <= MaxTokenNameDistance {
			return true
		}
	}
	return false
}

// EditDistance is the Levenshtein distance of a and b (bytes). Header names
// are short; longer inputs are cut at 256 bytes so a hostile name costs little.
func EditDistance(a, b string) int {
	const maxLen = 256
	if len(a) > maxLen {
		a = a[:maxLen]
	}
	if len(b) > maxLen {
		b = b[:maxLen]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
