package proc

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests start real processes (the subject is real process groups) and
// wait for real signals to land; no fixed sleep decides anything.

// TestCancelStopsGrandchildren: the shape of `sh -c "tar | docker import"`:
// the children of the shell must be gone when Run returns after a cancel.
func TestCancelStopsGrandchildren(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	ready := filepath.Join(dir, "ready")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Background jobs of a non-interactive shell ignore SIGINT: they are the
	// ones the SIGKILL after the grace period ends.
	cmd := CommandWithGrace(ctx, 300*time.Millisecond, "sh", "-c", `sleep 300 & echo $! >> `+pids+`; sleep 300 & echo $! >> `+pids+`; touch `+ready+`; wait`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, ready)
	pgid := cmd.Process.Pid
	cancel()
	if err := cmd.Wait(); err == nil {
		t.Fatalf("a cancelled command reported success")
	}
	if GroupAlive(pgid) {
		t.Fatalf("process group %d still has members after Wait", pgid)
	}
	raw, _ := os.ReadFile(pids)
	for _, f := range strings.Fields(string(raw)) {
		pid, _ := strconv.Atoi(f)
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if !strings.Contains(string(stat), ") Z ") {
				t.Errorf("grandchild %d survived the cancel: %s", pid, stat)
			}
		}
	}
}

// TestCancelKillsWhatIgnoresSIGINT: a process that ignores SIGINT is killed
// after the grace period, and Wait does not return before it is gone.
func TestCancelKillsWhatIgnoresSIGINT(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := CommandWithGrace(ctx, 200*time.Millisecond, "sh", "-c", `trap "" INT; touch `+ready+`; while :; do sleep 1; done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, ready)
	pgid := cmd.Process.Pid
	cancel()
	_ = cmd.Wait()
	if GroupAlive(pgid) {
		t.Fatalf("process group %d survived SIGKILL", pgid)
	}
}

// TestUncancelledCommandRunsNormally: output and exit status are untouched.
func TestUncancelledCommandRunsNormally(t *testing.T) {
	out, err := Command(context.Background(), "sh", "-c", "echo hello").Output()
	if err != nil || strings.TrimSpace(string(out)) != "hello" {
		t.Fatalf("got %q, %v", out, err)
	}
}

// waitForFile waits in real time for a real child process to write path: this
// test is about processes and signals, so no fake clock applies.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}
