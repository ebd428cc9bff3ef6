package boundedfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var testKind = Kind{Want: "a test file", Readable: "a readable test file", Typical: "tests are tiny", Limit: 16}

func TestReadRefusesWhatIsNotABoundedRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 17)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "does not exist (want a test file)"},
		{dir, "is a directory, not a regular file (want a test file)"},
		// Opened non-blocking: no writer is waited for.
		{fifo, "is a named pipe (FIFO), not a regular file"},
		{big, "is 17 bytes (want at most 16 bytes: tests are tiny)"},
		// /dev/zero is endless: refused by its kind, never read.
		{"/dev/zero", "is a character device"},
	} {
		if _, err := Read(tt.path, testKind); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Read(%s) = %v, want an error saying %q", tt.path, err, tt.want)
		}
	}
}

func TestReadReturnsAFileWithinTheLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ok")
	if err := os.WriteFile(p, []byte("sixteen bytes ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := Read(p, testKind)
	if err != nil || string(data) != "sixteen bytes ok" {
		t.Fatalf("Read = %q, %v", data, err)
	}
}
