package prepare

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
)

// recordingRunner records commands; installing makes the tool appear.
type recordingRunner struct {
	calls     []string
	installed *bool
	fail      string
}

func (r *recordingRunner) Run(_ context.Context, _ io.Reader, name string, args ...string) (string, string, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	r.calls = append(r.calls, line)
	if r.fail != "" && strings.Contains(line, r.fail) {
		return "", "E: Unable to locate package", errors.New("exit status 100")
	}
	if strings.Contains(line, "apt-get install") {
		*r.installed = true
	}
	return "", "", nil
}

func (r *recordingRunner) Start(string, []string, string) (int, error) {
	return 0, errors.New("unused")
}

func TestToolInstallsTheDebianPackageWhenMissing(t *testing.T) {
	installed := false
	lookPath := func(string) (string, error) {
		if installed {
			return "/usr/bin/shellcheck", nil
		}
		return "", errors.New("not found")
	}
	cases := []struct {
		name      string
		host      engine.Host
		present   bool
		fail      string
		wantPath  string
		wantCode  int
		wantCalls int
	}{
		{name: "present: nothing installed", host: engine.Host{IsRoot: true, IsDebian: true}, present: true, wantPath: "/usr/bin/shellcheck"},
		{name: "missing on root Debian: apt-get installs it", host: engine.Host{IsRoot: true, IsDebian: true}, wantPath: "/usr/bin/shellcheck", wantCalls: 2},
		{name: "missing, not root", host: engine.Host{IsDebian: true}, wantCode: exitcode.Infrastructure},
		{name: "missing, not Debian", host: engine.Host{IsRoot: true}, wantCode: exitcode.Infrastructure},
		{name: "apt-get install fails", host: engine.Host{IsRoot: true, IsDebian: true}, fail: "install", wantCode: exitcode.Infrastructure, wantCalls: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			installed = c.present
			r := &recordingRunner{installed: &installed, fail: c.fail}
			host := c.host
			p, err := Tool(context.Background(), ToolInput{Command: "shellcheck", Log: io.Discard, Host: &host, Runner: r, LookPath: lookPath})
			if c.wantCode != 0 {
				if exitcode.Of(err) != c.wantCode || !strings.Contains(err.Error(), "shellcheck") {
					t.Fatalf("err %v, want exit %d naming shellcheck", err, c.wantCode)
				}
			} else if err != nil || p != c.wantPath {
				t.Fatalf("Tool = %q, %v; want %q", p, err, c.wantPath)
			}
			if len(r.calls) != c.wantCalls {
				t.Errorf("commands %q, want %d", r.calls, c.wantCalls)
			}
		})
	}
}
