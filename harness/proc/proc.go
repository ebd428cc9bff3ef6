// Package proc runs host commands so that cancelling their context stops every
// process they started, not only the first one. exec.CommandContext kills the
// command it started and nothing else: an interrupted `sh -c "tar … | docker
// import …"` left tar and docker import running after the harness had exited,
// and a killed `go build` left its $WORK directory in TMPDIR. Here each
// command gets a process group of its own; cancelling sends the group SIGINT,
// as a terminal's Ctrl-C would (go, docker, debootstrap and tar clean up on
// it), and SIGKILL to whatever is left after a grace period. Wait returns only
// once the group is empty.
package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultGrace is how long a cancelled command's process group has between
// SIGINT and SIGKILL.
const DefaultGrace = 5 * time.Second

// Command is exec.CommandContext with the whole process group stopped on cancel.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return CommandWithGrace(ctx, DefaultGrace, name, args...)
}

// CommandWithGrace is Command with another grace period.
func CommandWithGrace(ctx context.Context, grace time.Duration, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return StopGroup(cmd.Process.Pid, grace) }
	// Cancel has emptied the group; this only bounds waiting for pipes that a
	// process outside the group might still hold.
	cmd.WaitDelay = time.Second
	return cmd
}

// StopGroup sends SIGINT to process group pgid, waits up to grace for it to
// empty, then sends SIGKILL and waits for the kill to land. A group that is
// already gone is no error.
func StopGroup(pgid int, grace time.Duration) error {
	err := syscall.Kill(-pgid, syscall.SIGINT)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if waitGroupGone(pgid, grace) {
		return nil
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	waitGroupGone(pgid, time.Second)
	return nil
}

// GroupAlive reports whether a live process (not a zombie waiting for its
// parent, e.g. an orphan init has not reaped yet) is in group pgid.
func GroupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	return len(Members(pgid)) > 0
}

// Members lists the live (non-zombie) processes of group pgid, from /proc.
func Members(pgid int) []int {
	return live(func(pid int, st Stat) bool { return st.pgid == pgid })
}

// live lists the processes in /proc that are neither zombies nor dead and
// that keep says to.
func live(keep func(pid int, st Stat) bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(pid)
		if ok && st.state != 'Z' && st.state != 'X' && keep(pid, st) {
			out = append(out, pid)
		}
	}
	return out
}

// Stat is what /proc/<pid>/stat says of a process's state and groups.
type Stat struct {
	state           byte
	ppid, pgid, sid int
}

func readStat(pid int) (Stat, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, false
	}
	// The command name is in parentheses and may hold spaces: fields start after the last ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return Stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	sid, _ := strconv.Atoi(f[3])
	return Stat{state: f[0][0], ppid: ppid, pgid: pgid, sid: sid}, true
}

// InSession lists the live (non-zombie) processes of session sid other than
// its leader: what a command started with Setsid left running.
func InSession(sid int) []int {
	return live(func(pid int, st Stat) bool { return pid != sid && st.sid == sid })
}

// Describe is "pid (command line)" for a report of leftover processes.
func Describe(pid int) string {
	raw, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strconv.Itoa(pid) + " (" + strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " ")) + ")"
}

// waitGroupGone polls until the group is empty or d has passed. The group's
// leader is reaped by exec's Wait concurrently; until then it counts as alive.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !GroupAlive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
