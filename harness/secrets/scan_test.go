package secrets

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Needles that share their first bytes, raw and base64, several on a line
// and on later lines: each occurrence is found once, at its line.
func TestScanDirFindsEveryNeedleInOnePass(t *testing.T) {
	dir := t.TempDir()
	a, b := "tok-shared-prefix-AAAA", "tok-shared-prefix-BBBB" // same first 8 bytes
	long := strings.Repeat("x9", 600)                          // over 1 KB, as service-account tokens are
	text := "line one " + a + " and " + b + "\n" +
		"line two " + base64.StdEncoding.EncodeToString([]byte(b)) + "\n" +
		"line three " + long + long + "\n" // two in a row, not overlapping
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "f.log"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "clean.txt"), []byte("tok-shared-prefix-CCCC only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ScanDir(dir, []string{a, b, long, a, "short"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range got {
		if f.File != "sub/f.log" {
			t.Errorf("finding in %s", f.File)
		}
		lines = append(lines, f.String())
	}
	want := []string{
		"sub/f.log:1: secret " + Fingerprint(a) + " (raw)",
		"sub/f.log:1: secret " + Fingerprint(b) + " (raw)",
		"sub/f.log:2: secret " + Fingerprint(b) + " (base64)",
		"sub/f.log:3: secret " + Fingerprint(long) + " (raw)",
		"sub/f.log:3: secret " + Fingerprint(long) + " (raw)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
