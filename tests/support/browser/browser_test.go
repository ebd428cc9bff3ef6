package browser

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
)

// recorder stands in for the host: it records commands, and "installs"
// chromium when apt-get install runs.
type recorder struct {
	cmds      []string
	installed bool
	failOn    string
}

func (r *recorder) Run(_ context.Context, _ io.Reader, name string, args ...string) (string, string, error) {
	cmd := strings.Join(append([]string{name}, args...), " ")
	r.cmds = append(r.cmds, cmd)
	if r.failOn != "" && strings.Contains(cmd, r.failOn) {
		return "", "E: Unable to locate package chromium\nmore", errors.New("exit status 100")
	}
	if strings.Contains(cmd, "apt-get install") {
		r.installed = true
	}
	return "", "", nil
}

func (r *recorder) Start(string, []string, string) (int, error) { return 0, errors.New("not used") }

func (r *recorder) lookPath(name string) (string, error) {
	if r.installed && name == "chromium" {
		return "/usr/bin/chromium", nil
	}
	return "", exec.ErrNotFound
}

func TestEnsureUsesChromiumOnPath(t *testing.T) {
	r := &recorder{installed: true}
	c, err := Ensure(context.Background(), EnsureInput{Runner: r, Host: engine.Host{IsRoot: true, IsDebian: true}, LookPath: r.lookPath})
	if err != nil || c.Path != "/usr/bin/chromium" || c.Installed {
		t.Fatalf("Ensure = %+v, %v; want the chromium on PATH, not installed", c, err)
	}
	if len(r.cmds) != 0 {
		t.Errorf("ran %q; want nothing run when chromium is there", r.cmds)
	}
}

func TestEnsureInstallsDebiansChromiumAsRoot(t *testing.T) {
	r := &recorder{}
	c, err := Ensure(context.Background(), EnsureInput{Runner: r, Host: engine.Host{IsRoot: true, IsDebian: true}, LookPath: r.lookPath})
	if err != nil || !c.Installed || c.Path != "/usr/bin/chromium" {
		t.Fatalf("Ensure = %+v, %v; want chromium installed", c, err)
	}
	want := []string{"apt-get update -qq", "env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core"}
	if !slices.Equal(r.cmds, want) {
		t.Errorf("commands = %q, want %q", r.cmds, want)
	}
}

func TestEnsureSaysWhatIsMissing(t *testing.T) {
	for _, tc := range []struct {
		name string
		host engine.Host
		fail string
		want string
	}{
		{"not root", engine.Host{IsDebian: true}, "", "cannot install it here (root=false, debian=true)"},
		{"not Debian", engine.Host{IsRoot: true}, "", "install Debian's chromium package or put chromium on PATH"},
		{"apt-get fails", engine.Host{IsRoot: true, IsDebian: true}, "apt-get install", "apt-get install chromium failed: E: Unable to locate package chromium: exit status 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{failOn: tc.fail}
			_, err := Ensure(context.Background(), EnsureInput{Runner: r, Host: tc.host, LookPath: r.lookPath})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if tc.fail == "" && len(r.cmds) != 0 {
				t.Errorf("ran %q where it may not install", r.cmds)
			}
		})
	}
}

func TestArgsKeepChromiumHeadlessAndOffTheNetwork(t *testing.T) {
	args := Args("/tmp/profile-1", []string{"--dump-dom"}, "file:///a/report.html")
	for _, want := range []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=/tmp/profile-1"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	if args[len(args)-1] != "file:///a/report.html" || args[len(args)-2] != "--dump-dom" {
		t.Errorf("args %q: want the extra flags, then the page last", args)
	}
}

func TestFileURL(t *testing.T) {
	u, err := FileURL("/work/a b/report.html")
	if err != nil || u != "file:///work/a%20b/report.html" {
		t.Errorf("FileURL = %q, %v", u, err)
	}
}
