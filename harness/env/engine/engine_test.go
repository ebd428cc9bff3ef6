package engine

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClassifyInfo(t *testing.T) {
	exit1 := errors.New("exit status 1")
	cases := []struct {
		name           string
		stdout, stderr string
		err            error
		want           InfoState
	}{
		{"working engine", "20.10.24\n", "", nil, InfoReady},
		{"no daemon", "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", exit1, InfoNoDaemon},
		{"socket missing", "", "dial unix /var/run/docker.sock: connect: no such file or directory", exit1, InfoNoDaemon},
		{"no client", "", "", errors.New(`exec: "docker": executable file not found in $PATH`), InfoNoClient},
		{"permission", "", "permission denied while trying to connect to the Docker daemon socket", exit1, InfoPermission},
		{"other", "", "something odd", exit1, InfoOther},
	}
	for _, c := range cases {
		if got := ClassifyInfo(c.stdout, c.stderr, c.err); got != c.want {
			t.Errorf("%s: got %v want %v", c.name, got, c.want)
		}
	}
}

func TestClassifyProbe(t *testing.T) {
	exit := errors.New("exit status 126")
	caps := `docker: Error response from daemon: failed to create shim: OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted: unknown.`
	if got := ClassifyProbe("", caps, exit); got != ProbeNeedsCapFix {
		t.Errorf("caps failure: got %v", got)
	}
	if got := ClassifyProbe("abc123\n", "", nil); got != ProbeOK {
		t.Errorf("ok: got %v", got)
	}
	if got := ClassifyProbe("", "no space left on device", exit); got != ProbeFailed {
		t.Errorf("other: got %v", got)
	}
}

// fakeRunner answers commands from a script and records what ran.
type fakeRunner struct {
	ran     []string
	answer  func(cmd string) (string, string, error)
	started int
}

func (f *fakeRunner) Run(_ context.Context, _ io.Reader, name string, args ...string) (string, string, error) {
	cmd := strings.TrimSpace(name + " " + strings.Join(args, " "))
	f.ran = append(f.ran, cmd)
	return f.answer(cmd)
}
func (f *fakeRunner) Start(name string, args []string, logPath string) (int, error) {
	f.started++
	f.ran = append(f.ran, "START "+name)
	return 4242, nil
}

func TestEnsureUsesWorkingEngineAsIs(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	os.WriteFile(bin, []byte("\x7fELF"), 0o755)
	f := &fakeRunner{answer: func(cmd string) (string, string, error) {
		if strings.HasPrefix(cmd, "docker info") {
			return "28.0.0\n", "", nil
		}
		return "ok", "", nil
	}}
	res, err := Ensure(context.Background(), EnsureInput{Runner: f, Host: Host{IsRoot: true, IsDebian: true}, StateDir: dir, ProbeBinary: bin, DaemonConfig: filepath.Join(dir, "daemon.json")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Installed || res.Started || res.CapFix || f.started != 0 {
		t.Fatalf("touched a working engine: %+v ran=%v", res, f.ran)
	}
	for _, c := range f.ran {
		if strings.HasPrefix(c, "apt-get") || strings.Contains(c, "DEBIAN_FRONTEND") {
			t.Fatalf("installed packages next to a working engine: %v", f.ran)
		}
	}
}

func TestEnsureRefusesToInstallWhenNotRootDebian(t *testing.T) {
	f := &fakeRunner{answer: func(cmd string) (string, string, error) {
		return "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", errors.New("exit status 1")
	}}
	_, err := Ensure(context.Background(), EnsureInput{Runner: f, Host: Host{IsRoot: false, IsDebian: true}, StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "install and start Docker") {
		t.Fatalf("want a clear 'install and start Docker' error, got %v", err)
	}
}

func TestMergeDaemonConfigKeepsExistingSettings(t *testing.T) {
	p := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(p, []byte(`{"log-level":"warn","runtimes":{"nvidia":{"path":"/x"}}}`), 0o644)
	out, err := MergeDaemonConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{`"log-level": "warn"`, `"nvidia"`, `"default-runtime": "upgrade-harness-capfix"`, CapFixPath} {
		if !strings.Contains(s, want) {
			t.Errorf("merged config lacks %s:\n%s", want, s)
		}
	}
	os.WriteFile(p, []byte(`{not json`), 0o644)
	if _, err := MergeDaemonConfig(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

// A daemon that refuses root is no docker-group problem: the message keeps
// docker's own words and points at the socket, not at usermod; a user is
// told the group and the command.
func TestEnsurePermissionDeniedSaysWhatHelpsRootAndUser(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
	denied := "permission denied while trying to connect to the Docker daemon socket at unix:///run/user/1000/docker.sock"
	f := &fakeRunner{answer: func(cmd string) (string, string, error) {
		return "", denied, errors.New("exit status 1")
	}}
	_, err := Ensure(context.Background(), EnsureInput{Runner: f, Host: Host{IsRoot: true, IsDebian: true}, StateDir: t.TempDir()})
	if err == nil || strings.Contains(err.Error(), "docker group") || !strings.Contains(err.Error(), denied) || !strings.Contains(err.Error(), "DOCKER_HOST") {
		t.Fatalf("root refused: %v; want docker's words and DOCKER_HOST, no docker group", err)
	}
	_, err = Ensure(context.Background(), EnsureInput{Runner: f, Host: Host{IsRoot: false, IsDebian: true}, StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "usermod -aG docker") || !strings.Contains(err.Error(), denied) {
		t.Fatalf("user refused: %v; want the docker group, usermod and docker's words", err)
	}
	if len(f.ran) != 2 {
		t.Fatalf("ran %v, want one docker info per attempt and nothing else", f.ran)
	}
}
