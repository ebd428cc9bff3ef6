package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

// Hold is this process's claim on a cluster name: an exclusive flock on
// <state dir>/locks/<name>.lock with the holder's pid written inside. The
// kernel drops the lock when the process dies, however it dies, so a crashed
// run never leaves a name claimed; a second run naming a held cluster is
// refused before it touches anything.
type Hold struct {
	name string
	f    *os.File
	// created: this process made the cluster, so it may delete it.
	created bool
	// nodes are the node containers of the ready cluster (watched by WatchNodes).
	nodes []string
	// sharedWith is the pid of an ancestor process that holds the lock (f is nil).
	sharedWith int
}

// held are the names this process holds: flock conflicts between two open
// files of one process too, and one run may open a cluster twice (a target,
// then its teardown).
var held = struct {
	sync.Mutex
	m map[string]*Hold
}{m: map[string]*Hold{}}

// InUseError says another live process holds the cluster name.
type InUseError struct {
	Name string
	// PID, Since and Command are what the holder wrote (zero when it had not
	// written them yet).
	PID     int
	Since   time.Time
	Command string
}

func (e *InUseError) Error() string {
	who := "another run (its pid is not written yet)"
	if e.PID > 0 {
		who = fmt.Sprintf("the run with pid %d", e.PID)
		if !e.Since.IsZero() {
			who += " since " + e.Since.UTC().Format(time.RFC3339)
		}
		if e.Command != "" {
			who += " (" + e.Command + ")"
		}
	}
	return fmt.Sprintf("kind cluster %s is in use by %s: choose another name (make e2e CLUSTER=%s-2, or -cluster %s-2; cluster subcommands take -name), or wait until that run ends", e.Name, who, e.Name, e.Name)
}

// LockDir is where cluster locks live, beside the harness's kubeconfigs.
func LockDir() string { return filepath.Join(filepath.Dir(DefaultKubeconfigDir()), "locks") }

// lockDir is replaced by tests.
var lockDir = LockDir

// Acquire claims name for this process, or fails as bad input with an
// *InUseError naming the holder. A name this process holds already is
// returned as it is.
func Acquire(name string) (*Hold, error) {
	held.Lock()
	defer held.Unlock()
	if h := held.m[name]; h != nil {
		return h, nil
	}
	dir := lockDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fault.InfraErr(fmt.Errorf("cluster lock directory %s: %w", dir, err))
	}
	path := filepath.Join(dir, name+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fault.InfraErr(fmt.Errorf("cluster lock %s: %w", path, err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			iu := readHolder(f, name)
			// A run the holder started (the e2e suite running scripts/gate.sh on
			// its own cluster) works on the holder's behalf: it shares the
			// cluster without a lock of its own and, not having created it,
			// never deletes it.
			if iu.PID > 0 && isAncestor(iu.PID, os.Getpid()) {
				h := &Hold{name: name, sharedWith: iu.PID}
				held.m[name] = h
				return h, nil
			}
			return nil, fault.BadInputErr(iu)
		}
		return nil, fault.InfraErr(fmt.Errorf("locking %s: %w", path, err))
	}
	cmd := strings.Join(os.Args, " ")
	if len(cmd) > 200 {
		cmd = cmd[:200] + "…"
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n%s\n%s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339), cmd)), 0)
	}
	h := &Hold{name: name, f: f}
	held.m[name] = h
	return h, nil
}

// readHolder reads what the holder wrote: pid, start time, command line.
func readHolder(f *os.File, name string) *InUseError {
	e := &InUseError{Name: name}
	raw, _ := io.ReadAll(io.LimitReader(f, 1<<10))
	lines := strings.SplitN(string(raw), "\n", 4)
	if len(lines) >= 1 {
		e.PID, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	}
	if len(lines) >= 2 {
		e.Since, _ = time.Parse(time.RFC3339, strings.TrimSpace(lines[1]))
	}
	if len(lines) >= 3 {
		e.Command = strings.TrimSpace(lines[2])
	}
	return e
}

// holding returns this process's hold on name, if any.
func holding(name string) *Hold {
	held.Lock()
	defer held.Unlock()
	return held.m[name]
}

// Name is the cluster name held.
func (h *Hold) Name() string { return h.name }

// Release gives the name up (the cluster is gone, or handed on).
func (h *Hold) Release() {
	held.Lock()
	defer held.Unlock()
	if held.m[h.name] == h {
		delete(held.m, h.name)
	}
	if h.f != nil {
		h.f.Close() // closing the only descriptor drops the flock
	}
}

// isAncestor reports whether pid is a parent, grandparent, … of child.
func isAncestor(pid, child int) bool {
	for p, steps := child, 0; p > 1 && steps < 64; steps++ {
		p = parentOf(p)
		if p == pid {
			return true
		}
	}
	return false
}

// parentOf reads the parent pid from /proc/<pid>/stat (0 when unknown).
func parentOf(pid int) int {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name is in parentheses and may hold spaces.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// Held lists the clusters this process holds.
func Held() []string {
	held.Lock()
	defer held.Unlock()
	out := make([]string, 0, len(held.m))
	for n := range held.m {
		out = append(out, n)
	}
	return out
}

func (h *Hold) markCreated() {
	held.Lock()
	defer held.Unlock()
	h.created = true
}

func (h *Hold) isCreated() bool {
	held.Lock()
	defer held.Unlock()
	return h.created
}

// watch records the node containers of a ready cluster; nil stops watching
// (the cluster is about to be deleted on purpose).
func (h *Hold) watch(nodes []string) {
	held.Lock()
	defer held.Unlock()
	h.nodes = nodes
}

// watched returns the ready clusters this process holds and their node containers.
func watched() map[string][]string {
	held.Lock()
	defer held.Unlock()
	out := map[string][]string{}
	for n, h := range held.m {
		if len(h.nodes) > 0 {
			out[n] = append([]string(nil), h.nodes...)
		}
	}
	return out
}
