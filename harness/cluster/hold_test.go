package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

// holderEnv makes the test binary a process that holds a cluster name until
// it is killed (TestMain), standing for another run on the same machine.
const holderEnv = "UH_TEST_HOLD_CLUSTER"

func TestMain(m *testing.M) {
	if name := os.Getenv(holderEnv); name != "" {
		lockDir = func() string { return os.Getenv("UH_TEST_LOCK_DIR") }
		h, err := Acquire(name)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if os.Getenv("UH_TEST_ONCE") != "" {
			fmt.Printf("shared with %d\n", h.sharedWith)
			os.Exit(0)
		}
		fmt.Println("holding")
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

// useLockDir points the locks at a temporary directory and forgets what
// this process holds when the test ends.
func useLockDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	old := lockDir
	lockDir = func() string { return dir }
	t.Cleanup(func() {
		for _, n := range Held() {
			if h := holding(n); h != nil {
				h.Release()
			}
		}
		lockDir = old
	})
	return dir
}

// startHolder starts another process that holds name and returns it once it does.
func startHolder(t *testing.T, dir, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+name, "UH_TEST_LOCK_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "holding" {
		t.Fatalf("holder process said %q, want holding", line)
	}
	return cmd
}

// A second run naming a cluster another live run holds is refused at once as
// bad input that names the holder's pid and how to choose another name; once
// the holder dies (killed: no cleanup ran), the name is free again.
func TestAcquireRefusesAClusterAnotherRunHoldsUntilItDies(t *testing.T) {
	dir := useLockDir(t)
	holder := startHolder(t, dir, "uh-matrix")

	start := time.Now()
	_, err := Acquire("uh-matrix")
	if took := time.Since(start); took > time.Second {
		t.Fatalf("refusal took %s, want at once", took)
	}
	if exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("Acquire of a held cluster: %v (exit %d), want bad input (exit 2)", err, exitcode.Of(err))
	}
	var iu *InUseError
	if !errors.As(err, &iu) || iu.PID != holder.Process.Pid {
		t.Fatalf("error %v does not name the holder pid %d", err, holder.Process.Pid)
	}
	for _, want := range []string{"uh-matrix", fmt.Sprintf("pid %d", holder.Process.Pid), "CLUSTER=", "-cluster"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}

	_ = holder.Process.Kill()
	_ = holder.Wait()
	h, err := Acquire("uh-matrix")
	if err != nil {
		t.Fatalf("after the holder died: %v, want the name free", err)
	}
	raw, _ := os.ReadFile(dir + "/uh-matrix.lock")
	if !strings.HasPrefix(string(raw), fmt.Sprintf("%d\n", os.Getpid())) {
		t.Fatalf("lock file says %q, want this pid first", raw)
	}
	h.Release()
}

// One run may open the same cluster twice (its target, then a teardown).
func TestAcquireTwiceInOneProcessIsTheSameHold(t *testing.T) {
	useLockDir(t)
	a, err := Acquire("uh-x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Acquire("uh-x")
	if err != nil || a != b {
		t.Fatalf("second Acquire: %v, %p vs %p; want the same hold", err, a, b)
	}
}

// fakeProvider stands for kind's provider: clusters by name, deletions recorded.
type fakeProvider struct {
	mu       sync.Mutex
	clusters map[string]bool
	deleted  []string
	created  []string
}

func (p *fakeProvider) Create(name string, _ ...kindcluster.CreateOption) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clusters[name] = true
	p.created = append(p.created, name)
	return nil
}

func (p *fakeProvider) Delete(name, _ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.clusters, name)
	p.deleted = append(p.deleted, name)
	return nil
}

func (p *fakeProvider) List() ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for n := range p.clusters {
		out = append(out, n)
	}
	return out, nil
}

func (p *fakeProvider) ExportKubeConfig(string, string, bool) error    { return nil }
func (p *fakeProvider) KubeConfig(string, bool) (string, error)        { return "", nil }
func (p *fakeProvider) CollectLogs(string, string) error               { return nil }
func (p *fakeProvider) ListInternalNodes(string) ([]nodes.Node, error) { return nil, nil }
func withProvider(p kindProvider) Option                               { return func(c *Cluster) { c.provider = p } }

// A run deletes only a cluster it created or was told to take over: a reused
// one (e.g. kept by an earlier run) survives its Destroy, interrupt handling
// included, and one another run holds is never deleted, even when told to.
func TestDestroyDeletesOnlyWhatThisRunCreatedOrTookOver(t *testing.T) {
	dir := useLockDir(t)
	p := &fakeProvider{clusters: map[string]bool{"uh-reused": true, "uh-other": true}}
	var log bytes.Buffer
	opts := []Option{withProvider(p), WithLog(&log), WithKubeconfigDir(t.TempDir())}

	created := New("uh-new", opts...)
	if err := created.CreateNoWait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A second handle in the same run (a teardown helper) knows it was created here.
	if err := New("uh-new", opts...).Destroy(context.Background()); err != nil {
		t.Fatalf("Destroy of a cluster this run created: %v", err)
	}

	reused := New("uh-reused", opts...)
	if err := reused.Hold(); err != nil {
		t.Fatal(err)
	}
	if err := reused.Destroy(context.Background()); err != nil {
		t.Fatalf("Destroy of a reused cluster: %v, want it left without error", err)
	}
	if !strings.Contains(log.String(), "leaving kind cluster uh-reused") || !strings.Contains(log.String(), "cluster down -name uh-reused") {
		t.Errorf("log %q does not say the reused cluster is left and how to delete it", log.String())
	}

	startHolder(t, dir, "uh-other")
	err := New("uh-other", append(opts, WithTakeOver())...).Destroy(context.Background())
	if exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("take-over of a cluster another run holds: %v, want bad input naming the holder", err)
	}

	if err := New("uh-reused", append(opts, WithTakeOver())...).Destroy(context.Background()); err != nil {
		t.Fatalf("take-over of a reused cluster nobody holds: %v", err)
	}
	if got := strings.Join(p.deleted, " "); got != "uh-new uh-reused" {
		t.Fatalf("deleted %q, want %q (never uh-other, uh-reused only once taken over)", got, "uh-new uh-reused")
	}
	if slices := Held(); len(slices) != 0 {
		t.Fatalf("still holding %v after deleting them", slices)
	}
}

// A run the holder started itself (the e2e suite running scripts/gate.sh on
// its lane's cluster) shares the cluster instead of being refused.
func TestAcquireSharesWithAChildOfTheHolder(t *testing.T) {
	dir := useLockDir(t)
	if _, err := Acquire("uh-lane"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"=uh-lane", "UH_TEST_LOCK_DIR="+dir, "UH_TEST_ONCE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != fmt.Sprintf("shared with %d", os.Getpid()) {
		t.Fatalf("child of the holder: %v: %s", err, out)
	}
}

// A deferred Destroy after an explicit one (bench deletes its cluster, then
// its defer runs) deletes nothing and says nothing: it once claimed the run
// had reused the cluster it had just deleted.
func TestDestroyTwiceDeletesOnceAndSaysNothingMore(t *testing.T) {
	useLockDir(t)
	p := &fakeProvider{clusters: map[string]bool{}}
	var log bytes.Buffer
	c := New("uh-twice", withProvider(p), WithLog(&log), WithKubeconfigDir(t.TempDir()))
	if err := c.CreateNoWait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := c.Destroy(context.Background()); err != nil {
			t.Fatalf("Destroy %d: %v", i+1, err)
		}
	}
	if got := strings.Join(p.deleted, " "); got != "uh-twice" {
		t.Errorf("deleted %q, want uh-twice once", got)
	}
	if strings.Contains(log.String(), "leaving kind cluster") {
		t.Errorf("the second Destroy said the cluster was left: %q", log.String())
	}
}
