package images

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckExecutableRefusesATruncatedBinary: the test binary itself, whole
// and cut at several points, including just after its build ID note.
func TestCheckExecutableRefusesATruncatedBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckExecutable(self); err != nil {
		t.Fatalf("the whole test binary: %v", err)
	}
	dir := t.TempDir()
	for _, n := range []int{0, 64, 4096, len(raw) / 2, len(raw) - 1} {
		p := filepath.Join(dir, "cut")
		if err := os.WriteFile(p, raw[:n], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := CheckExecutable(p); err == nil {
			t.Errorf("binary cut at %d of %d bytes passed", n, len(raw))
		}
	}
}
