package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A failed call's error names the command and keeps docker's own stderr
// (its end, when long), and says whether the object was missing.
func TestErrorKeepsTheCommandAndDockersStderr(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "docker")
	script := "#!/bin/sh\nhead -c 10000 /dev/zero | tr '\\0' x >&2\necho >&2\necho 'Error: No such image: busybox:nope' >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := New(WithBinary(fake)).Run(context.Background(), "image", "inspect", "busybox:nope")
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *docker.Error", err)
	}
	if !strings.Contains(err.Error(), "docker image inspect busybox:nope") || !strings.Contains(err.Error(), "No such image: busybox:nope") {
		t.Fatalf("message %q lacks the command or docker's words", err)
	}
	if len(de.Stderr) > maxStderr || !IsNotFound(err) {
		t.Fatalf("stderr kept %d bytes (max %d), NotFound=%v", len(de.Stderr), maxStderr, IsNotFound(err))
	}
}

// A missing CLI says how to get one.
func TestMissingBinarySaysSo(t *testing.T) {
	_, err := New(WithBinary("no-such-docker-cli")).Run(context.Background(), "version")
	if err == nil || !strings.Contains(err.Error(), "install Docker") {
		t.Fatalf("got %v", err)
	}
}
