// Package secrets keeps token values out of everything the harness writes:
// reports, failure bundles and logs. Secrets are replaced by their name and a
// short fingerprint, so two artifacts can still be compared ("same token?")
// without ever showing the value.
package secrets

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// MinSecretLen is the shortest value Add accepts: shorter strings ("true",
// "v1") would match unrelated text everywhere and hide real evidence.
const MinSecretLen = 8

// Fingerprint identifies a value without revealing it: "sha256:" followed by
// the first 8 hex characters of its SHA-256.
func Fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	return "sha256:" + hex.EncodeToString(sum[:])[:8]
}

// Marker is the text that replaces a secret value named name.
func Marker(name, value string) string {
	return "<redacted:" + name + " " + Fingerprint(value) + ">"
}

type secret struct {
	name        string
	value       string
	fingerprint string
}

// Redactor replaces known secret values and token-shaped text. The zero value
// and a nil *Redactor are usable: they apply the patterns only.
type Redactor struct {
	mu sync.RWMutex
	// bySearch maps each searched form (raw and base64) to its secret.
	bySearch map[string]secret
	// order holds the searched forms, longest first, so a value that contains
	// another known value is replaced whole.
	order []string
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor { return &Redactor{} }

// Add registers a secret value under name (e.g. "agui-token" or
// "ambient-runner-token-s1/k8s-token"). Values shorter than MinSecretLen are
// ignored. Its standard base64 encoding is redacted too, because Secret
// data and last-applied annotations carry values encoded.
func (r *Redactor) Add(name, value string) {
	if r == nil || len(value) < MinSecretLen {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bySearch == nil {
		r.bySearch = map[string]secret{}
	}
	s := secret{name: name, value: value, fingerprint: Fingerprint(value)}
	for _, form := range searchForms(value) {
		if _, known := r.bySearch[form]; known {
			continue
		}
		r.bySearch[form] = s
		r.order = append(r.order, form)
	}
	sort.SliceStable(r.order, func(i, j int) bool { return len(r.order[i]) > len(r.order[j]) })
}

// searchForms are the spellings of value that count as a leak.
func searchForms(value string) []string {
	forms := []string{value}
	if trimmed := strings.TrimSpace(value); trimmed != value && len(trimmed) >= MinSecretLen {
		forms = append(forms, trimmed)
	}
	if enc := base64.StdEncoding.EncodeToString([]byte(value)); len(enc) >= MinSecretLen {
		forms = append(forms, enc)
	}
	return forms
}

// Values returns the registered secret values (raw form only), for ScanDir.
func (r *Redactor) Values() []string {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := map[string]bool{}
	var out []string
	for _, form := range r.order {
		v := r.bySearch[form].value
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// Len is the number of registered secret values.
func (r *Redactor) Len() int { return len(r.Values()) }

var (
	// jwtPattern matches three base64url parts whose header starts like a JSON object.
	jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+`)
	// headerPattern matches the credential-bearing headers in "Name: value",
	// "Name=value", JSON ("Name":"value") and Go map ("Name:[value]") forms.
	// Only spaces and tabs may follow the separator, so an empty header never
	// swallows the next line. A value starting with "<" is already redacted.
	headerPattern = regexp.MustCompile(`(?i)(authorization|x-ambient-session-token|x-forwarded-access-token)(["']?[ \t]*[:=][ \t]*\[?["']?)((?:bearer|basic|token)[ \t]+)?([^\s"',;\]}<&][^\s"',;\]}&]*)`)
	// queryTokenPattern matches ?token= and &token= query parameters.
	queryTokenPattern = regexp.MustCompile(`(?i)([?&](?:access_)?token=)([^&\s"'#<]+)`)
)

// Redact returns s with every known secret value and every token-shaped
// string (JWTs, credential headers, token query parameters) replaced.
func (r *Redactor) Redact(s string) string {
	s = r.RedactKnown(s)
	s = headerPattern.ReplaceAllStringFunc(s, func(m string) string {
		g := headerPattern.FindStringSubmatch(m)
		if g[3] == "" && isAuthScheme(g[4]) {
			// The scheme alone: its value was already redacted or is empty.
			return m
		}
		return g[1] + g[2] + g[3] + Marker(canonicalHeader(g[1]), g[4])
	})
	s = queryTokenPattern.ReplaceAllStringFunc(s, func(m string) string {
		g := queryTokenPattern.FindStringSubmatch(m)
		return g[1] + Marker("token-param", g[2])
	})
	return s
}

// RedactKnown replaces registered values and JWTs only. Use it on text that
// is already escaped for a format (XML, JSON, Markdown), where the header
// patterns could cut a value at an escape sequence.
func (r *Redactor) RedactKnown(s string) string {
	if r != nil {
		r.mu.RLock()
		for _, form := range r.order {
			if strings.Contains(s, form) {
				sec := r.bySearch[form]
				s = strings.ReplaceAll(s, form, "<redacted:"+sec.name+" "+sec.fingerprint+">")
			}
		}
		r.mu.RUnlock()
	}
	return jwtPattern.ReplaceAllStringFunc(s, func(m string) string { return Marker("jwt", m) })
}

// RedactBytes is Redact for byte slices.
func (r *Redactor) RedactBytes(b []byte) []byte { return []byte(r.Redact(string(b))) }

func isAuthScheme(word string) bool {
	switch strings.ToLower(word) {
	case "bearer", "basic", "token":
		return true
	}
	return false
}

func canonicalHeader(h string) string {
	switch strings.ToLower(h) {
	case "authorization":
		return "Authorization"
	case "x-ambient-session-token":
		return "X-Ambient-Session-Token"
	default:
		return "X-Forwarded-Access-Token"
	}
}
