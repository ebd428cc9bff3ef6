// Package browser runs Debian's chromium headless against local files: the
// rendered DOM (--dump-dom) and a screenshot (--screenshot), so tests can check
// what a real browser makes of a report. Every run gets a fresh profile and
// the flags that keep chromium off the network (no component updates, sync or
// background requests); the pages it loads are file:// URLs.
package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
)

// Package is the Debian package that provides Executables; FontPackage gives
// it fonts on a minimal root filesystem (without any, text renders as boxes).
const (
	Package     = "chromium"
	FontPackage = "fonts-dejavu-core"
)

// Executables are the names chromium is looked up under, in order.
var Executables = []string{"chromium", "chromium-browser"}

// DefaultTimeout bounds one chromium run.
const DefaultTimeout = 90 * time.Second

// EnsureInput configures Ensure.
type EnsureInput struct {
	// Runner runs apt-get; engine.ExecRunner when nil.
	Runner engine.Runner
	// Host says whether installing is allowed; engine.DetectHost() when zero and Runner is nil.
	Host engine.Host
	// LookPath finds an executable; exec.LookPath when nil.
	LookPath func(string) (string, error)
	Log      io.Writer
}

// Chromium is a chromium executable to run headless.
type Chromium struct {
	Path string
	// Installed is true when Ensure installed it.
	Installed bool
}

// Ensure finds chromium, or installs Debian's package (as root on Debian, like
// the engine's docker.io), or says what is missing.
func Ensure(ctx context.Context, in EnsureInput) (*Chromium, error) {
	if in.Runner == nil {
		in.Runner = engine.ExecRunner{}
		if in.Host == (engine.Host{}) {
			in.Host = engine.DetectHost()
		}
	}
	if in.LookPath == nil {
		in.LookPath = exec.LookPath
	}
	if in.Log == nil {
		in.Log = io.Discard
	}
	find := func() string {
		for _, name := range Executables {
			if p, err := in.LookPath(name); err == nil {
				return p
			}
		}
		return ""
	}
	if p := find(); p != "" {
		return &Chromium{Path: p}, nil
	}
	if !in.Host.IsRoot || !in.Host.IsDebian {
		return nil, fmt.Errorf("no chromium on PATH (looked for %s) and cannot install it here (root=%v, debian=%v): install Debian's %s package or put chromium on PATH",
			strings.Join(Executables, ", "), in.Host.IsRoot, in.Host.IsDebian, Package)
	}
	fmt.Fprintf(in.Log, "browser: installing Debian's %s (apt-get update && apt-get install -y %s %s)\n", Package, Package, FontPackage)
	start := time.Now()
	if _, e, err := in.Runner.Run(ctx, nil, "apt-get", "update", "-qq"); err != nil {
		return nil, fmt.Errorf("apt-get update failed: %s: %w", firstLine(e), err)
	}
	if _, e, err := in.Runner.Run(ctx, nil, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", Package, FontPackage); err != nil {
		return nil, fmt.Errorf("apt-get install %s failed: %s: %w", Package, firstLine(e), err)
	}
	p := find()
	if p == "" {
		return nil, fmt.Errorf("apt-get installed %s but none of %s is on PATH", Package, strings.Join(Executables, ", "))
	}
	fmt.Fprintf(in.Log, "browser: %s installed in %s\n", p, time.Since(start).Round(time.Second))
	return &Chromium{Path: p, Installed: true}, nil
}

// Args are chromium's flags for one headless run with profile dir, followed by
// extra and the page.
func Args(profile string, extra []string, page string) []string {
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
		"--hide-scrollbars", "--user-data-dir=" + profile}
	return append(append(args, extra...), page)
}

// FileURL is the file:// URL of path. Pages are loaded without a fragment:
// headless chromium 156 paints a blank screenshot of a page it scrolled to an
// anchor, so a section to capture gets a page of its own.
func FileURL(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: abs}
	return u.String(), nil
}

// DumpDOMInput says which page to load.
type DumpDOMInput struct {
	File    string
	Timeout time.Duration // DefaultTimeout when 0
}

// DumpDOM loads the page and returns the DOM chromium built from it, serialised.
func (c *Chromium) DumpDOM(ctx context.Context, in DumpDOMInput) (string, error) {
	page, err := FileURL(in.File)
	if err != nil {
		return "", err
	}
	out, err := c.run(ctx, in.Timeout, []string{"--dump-dom"}, page)
	if err != nil {
		return "", err
	}
	if !strings.Contains(out, "<html") {
		return "", fmt.Errorf("chromium --dump-dom %s printed no document (%d bytes)", page, len(out))
	}
	return out, nil
}

// ScreenshotInput says which page to capture into which PNG, at what window size.
type ScreenshotInput struct {
	File string
	// Out is the PNG to write.
	Out           string
	Width, Height int           // 1400×1000 when 0
	Timeout       time.Duration // DefaultTimeout when 0
}

// Screenshot loads the page and writes a PNG of the window.
func (c *Chromium) Screenshot(ctx context.Context, in ScreenshotInput) error {
	page, err := FileURL(in.File)
	if err != nil {
		return err
	}
	if in.Width <= 0 {
		in.Width = 1400
	}
	if in.Height <= 0 {
		in.Height = 1000
	}
	out, err := filepath.Abs(in.Out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	_ = os.Remove(out) // a stale PNG must not pass for this run's
	if _, err := c.run(ctx, in.Timeout, []string{"--screenshot=" + out, fmt.Sprintf("--window-size=%d,%d", in.Width, in.Height)}, page); err != nil {
		return err
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		return fmt.Errorf("chromium --screenshot=%s wrote no image (%v)", out, err)
	}
	return nil
}

// run starts chromium in its own process group with a fresh profile and stops
// the whole group when it is done or times out (its helper processes would
// otherwise keep the output pipe open).
func (c *Chromium) run(ctx context.Context, timeout time.Duration, extra []string, page string) (string, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	profile, err := os.MkdirTemp("", "uh-chromium-profile-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Path, Args(profile, extra, page)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers left behind
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("chromium on %s did not finish within %s: %s", page, timeout, lastLines(stderr.String(), 5))
		}
		return "", fmt.Errorf("chromium on %s: %w: %s", page, err, lastLines(stderr.String(), 5))
	}
	return stdout.String(), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
