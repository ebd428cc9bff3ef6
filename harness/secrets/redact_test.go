package secrets

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const aguiToken = "3f2b6c1e-9a47-4d2b-8c3e-5b7f0a1d2e4c"

func TestFingerprint(t *testing.T) {
	// sha256("abc") = ba7816bf...
	if got := Fingerprint("abc"); got != "sha256:ba7816bf" {
		t.Fatalf("Fingerprint(abc) = %q, want sha256:ba7816bf", got)
	}
}

func TestRedact(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXBhcnQ"
	r := NewRedactor()
	r.Add("agui-token", aguiToken)
	r.Add("short", "abc1234") // 7 chars: ignored
	fp := Fingerprint(aguiToken)

	tests := []struct {
		name     string
		in       string
		want     string
		mustHide []string
	}{
		{"known value", "token is " + aguiToken + " ok", "token is <redacted:agui-token " + fp + "> ok", []string{aguiToken}},
		{"known value base64", "data: " + base64.StdEncoding.EncodeToString([]byte(aguiToken)), "data: <redacted:agui-token " + fp + ">", nil},
		{"short value ignored", "abc1234", "abc1234", nil},
		{"session token header", "X-Ambient-Session-Token: hunter2hunter2", "X-Ambient-Session-Token: <redacted:X-Ambient-Session-Token " + Fingerprint("hunter2hunter2") + ">", []string{"hunter2hunter2"}},
		{"header case insensitive", "x-ambient-session-token: s3cr3tvalue", "", []string{"s3cr3tvalue"}},
		{"bearer keeps scheme", "Authorization: Bearer opaque-123456", "Authorization: Bearer <redacted:Authorization " + Fingerprint("opaque-123456") + ">", nil},
		{"json header", `{"X-Forwarded-Access-Token":"abcdefgh1234"}`, `{"X-Forwarded-Access-Token":"<redacted:X-Forwarded-Access-Token ` + Fingerprint("abcdefgh1234") + `>"}`, nil},
		{"go header map", "map[Authorization:[Bearer zzzzzzzzzz]]", "", []string{"zzzzzzzzzz"}},
		{"jwt anywhere", "bot " + jwt + " end", "bot <redacted:jwt " + Fingerprint(jwt) + "> end", []string{jwt}},
		{"bearer jwt not double redacted", "Authorization: Bearer " + jwt, "Authorization: Bearer <redacted:jwt " + Fingerprint(jwt) + ">", nil},
		{"header with known value", "X-Ambient-Session-Token: " + aguiToken, "X-Ambient-Session-Token: <redacted:agui-token " + fp + ">", nil},
		{"empty header does not eat next line", "Authorization:\nnext line", "Authorization:\nnext line", nil},
		{"query token", "GET /agui/events?token=qwertyuiop&x=1", "GET /agui/events?token=<redacted:token-param " + Fingerprint("qwertyuiop") + ">&x=1", nil},
		{"runner 401 line untouched", `INFO:     10.244.0.5:41234 - "POST / HTTP/1.1" 401 Unauthorized`, `INFO:     10.244.0.5:41234 - "POST / HTTP/1.1" 401 Unauthorized`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Redact(tt.in)
			if tt.want != "" && got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			for _, hidden := range tt.mustHide {
				if strings.Contains(got, hidden) {
					t.Errorf("Redact(%q) = %q still contains a secret", tt.in, got)
				}
			}
		})
	}
}

func TestNilRedactorAppliesPatterns(t *testing.T) {
	var r *Redactor
	r.Add("x", "ignored-because-nil")
	got := r.Redact("Authorization: Bearer abcdefghijk")
	if strings.Contains(got, "abcdefghijk") {
		t.Fatalf("nil Redactor left a bearer token: %q", got)
	}
	if r.Values() != nil {
		t.Fatalf("nil Redactor has values")
	}
}

func TestLongerValueReplacedWhole(t *testing.T) {
	r := NewRedactor()
	r.Add("inner", "12345678")
	r.Add("outer", "prefix-12345678-suffix")
	got := r.Redact("v=prefix-12345678-suffix")
	if !strings.Contains(got, "<redacted:outer ") || strings.Contains(got, "suffix") {
		t.Fatalf("outer value not replaced whole: %q", got)
	}
}

func TestWriterRedactsValueSplitAcrossWrites(t *testing.T) {
	r := NewRedactor()
	r.Add("agui-token", aguiToken)
	var out bytes.Buffer
	w := NewWriter(&out, r)
	line := "runner started with " + aguiToken + "\nsecond line " + aguiToken
	for i := 0; i < len(line); i += 5 { // tiny chunks split the token
		end := min(i+5, len(line))
		if _, err := w.Write([]byte(line[i:end])); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(out.String(), "second line") {
		t.Fatalf("partial line emitted before Close: %q", out.String())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), aguiToken) {
		t.Fatalf("writer leaked the token: %q", out.String())
	}
	if got := strings.Count(out.String(), "<redacted:agui-token"); got != 2 {
		t.Fatalf("want 2 markers, got %d in %q", got, out.String())
	}
}

func TestScanDir(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "logs", "ns"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "clean.txt"), []byte("nothing here\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "logs", "ns", "leak.log"), []byte("one\ntwo "+aguiToken+"\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "b64.yaml"), []byte("k: "+base64.StdEncoding.EncodeToString([]byte(aguiToken))+"\n"), 0o644))

	findings, err := ScanDir(dir, []string{aguiToken, "short"})
	must(err)
	if len(findings) != 2 {
		t.Fatalf("want 2 findings, got %v", findings)
	}
	if f := findings[0]; f.File != "b64.yaml" || f.Encoding != "base64" || f.Line != 1 {
		t.Errorf("unexpected first finding %+v", f)
	}
	if f := findings[1]; f.File != "logs/ns/leak.log" || f.Line != 2 || f.Fingerprint != Fingerprint(aguiToken) || f.Encoding != "raw" {
		t.Errorf("unexpected second finding %+v", f)
	}
	for _, f := range findings {
		if strings.Contains(f.String(), aguiToken) {
			t.Fatalf("finding reveals the value: %s", f)
		}
	}

	clean, err := ScanDir(dir, []string{"not-present-anywhere"})
	must(err)
	if len(clean) != 0 {
		t.Fatalf("want no findings, got %v", clean)
	}
	if _, err := ScanDir(filepath.Join(dir, "missing"), []string{aguiToken}); err == nil {
		t.Fatal("ScanDir of a missing dir must fail, not prove absence")
	}
}
