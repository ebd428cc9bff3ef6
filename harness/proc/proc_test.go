package proc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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

// TestMembersAndInSessionListLiveProcesses: a shell started in a session and
// group of its own, with one background child: the group lists both, the
// session lists the child but not its leader, and neither lists anything once
// the group is killed and reaped.
func TestMembersAndInSessionListLiveProcesses(t *testing.T) {
	dir := t.TempDir()
	pidFile, ready := filepath.Join(dir, "pid"), filepath.Join(dir, "ready")
	cmd := exec.Command("sh", "-c", `sleep 300 & echo $! > `+pidFile+`; touch `+ready+`; wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	leader := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-leader, syscall.SIGKILL); _ = cmd.Wait() })
	waitForFile(t, ready)
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	if got := Members(leader); !slices.Contains(got, leader) || !slices.Contains(got, child) {
		t.Errorf("Members(%d) = %v, want the shell %d and its child %d", leader, got, leader, child)
	}
	if got := InSession(leader); !slices.Equal(got, []int{child}) {
		t.Errorf("InSession(%d) = %v, want only the child %d", leader, got, child)
	}
	if err := syscall.Kill(-leader, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !waitGroupGone(leader, 20*time.Second) {
		t.Fatalf("group %d still has %v", leader, Members(leader))
	}
	if got := InSession(leader); len(got) != 0 {
		t.Errorf("InSession(%d) after the kill = %v", leader, got)
	}
}
