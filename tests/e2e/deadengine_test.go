package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// engineProxy is a Docker socket the test owns: a unix socket that forwards
// every connection to the real engine until Kill, which closes it and every
// connection through it, so to whoever uses it the engine is gone. The
// shared dockerd itself is never touched.
type engineProxy struct {
	path string
	ln   net.Listener
	mu   sync.Mutex
	conn []net.Conn
	dead bool
}

func startEngineProxy(t *testing.T, upstream string) *engineProxy {
	t.Helper()
	dir, err := os.MkdirTemp("", "uh-engine-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &engineProxy{path: filepath.Join(dir, "docker.sock")}
	if p.ln, err = net.Listen("unix", p.path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	go func() {
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c, upstream)
		}
	}()
	return p
}

func (p *engineProxy) forward(c net.Conn, upstream string) {
	u, err := net.Dial("unix", upstream)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conn = append(p.conn, c, u)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	_, _ = io.Copy(c, u)
	c.Close()
}

// Kill makes the engine unreachable through the proxy: new connections are
// refused and open ones cut.
func (p *engineProxy) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return
	}
	p.dead = true
	p.ln.Close()
	for _, c := range p.conn {
		c.Close()
	}
}

// TestDeadEngineEndsTheRun runs the real CLI (`matrix`, v0.2.0→v0.2.1, on the
// suite's shared cluster through its kubeconfig) with DOCKER_HOST pointing at
// a socket the test owns, and kills that socket once the cell's baseline
// traffic runs: the engine watch must end the run with exit 3 and a message
// naming the engine, not hang (the seconds it took are logged).
func TestDeadEngineEndsTheRun(t *testing.T) {
	l := onLane(laneDiagnosis)
	f := features.New("a container engine that dies mid-cell ends the run with exit 3 naming it").
		WithLabel("area", "faults").
		Assess("DOCKER_HOST's socket dies during the baseline: exit 3 naming it, no hang", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			g := NewWithT(t)
			upstream := strings.TrimPrefix(engine.EngineName(), "unix://")
			if !strings.HasPrefix(engine.EngineName(), "unix://") {
				t.Skipf("the engine is at %s, not a unix socket this test can put a proxy in front of", engine.EngineName())
			}
			target := l.target(ctx, t)
			kind := l.cluster(ctx, t)
			// The CLI on an existing cluster loads no image: load the cell's now.
			cat := simulatedCatalog(t)
			from, err := deploy.RenderRelease(cat, release(t, cat, "v0.2.0"), platform.Images{})
			g.Expect(err).NotTo(HaveOccurred())
			to, err := deploy.RenderRelease(cat, release(t, cat, "v0.2.1"), platform.Images{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(target.LoadImages(ctx, deploy.ListImages(from, to)...)).To(Succeed())
			t.Cleanup(func() { _ = resetPlatform(context.Background(), target, t.Logf) })

			bin := buildHarness(t)
			proxy := startEngineProxy(t, upstream)
			dir := filepath.Join(artifactsDir(), "dead-engine")
			g.Expect(os.RemoveAll(dir)).To(Succeed())
			cmd := exec.Command(bin, "matrix", "-from", "v0.2.0", "-to", "v0.2.1", "-kubeconfig", kind.GetKubeconfig(),
				"-context", kind.GetKubectlContext(), "-keep", "never", "-artifacts", dir)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+proxy.path)
			run, err := startCLI(cmd, "… baseline on", os.Stderr)
			g.Expect(err).NotTo(HaveOccurred())
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill() // our own child, by pid
				}
			})
			select {
			case <-run.Seen:
			case err := <-run.Exited:
				t.Fatalf("the run ended (%v) before its baseline:\n%s", err, tail(run.Output(), 40))
			case <-time.After(6 * time.Minute):
				t.Fatal("no baseline within 6 minutes")
			}
			time.Sleep(2 * time.Second) // inside the baseline, which lasts longer
			killed := time.Now()
			proxy.Kill()
			var exitErr error
			select {
			case exitErr = <-run.Exited:
			case <-time.After(3 * time.Minute):
				t.Fatal("still running 3 minutes after the engine died: it hangs")
			}
			took := time.Since(killed)
			code := cmd.ProcessState.ExitCode()
			output := run.Output()
			t.Logf("engine killed during the baseline: exit %d (%v) %.1f s later", code, exitErr, took.Seconds())
			var ee *exec.ExitError
			g.Expect(errors.As(exitErr, &ee)).To(BeTrue(), "%v", exitErr)
			g.Expect(code).To(Equal(exitcode.Infrastructure), tail(output, 40))
			g.Expect(output).To(ContainSubstring("the container engine (docker at unix://" + proxy.path + ") stopped answering"))
			return ctx
		}).Feature()
	l.Test(t, f)
}
