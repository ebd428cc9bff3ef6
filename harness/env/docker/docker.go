// Package docker is the harness's one way to call the Docker CLI: every call
// takes a context (so an interrupt or a dead engine ends it), runs in its own
// process group (harness/proc), and a failure carries the command line and
// docker's own stderr, which says why (no such image, permission denied, …).
package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/proc"
)

// Exec runs one docker command line; tests replace it with canned answers.
type Exec func(ctx context.Context, c Call) (stdout, stderr []byte, err error)

// Call is one docker invocation.
type Call struct {
	Args []string
	// Stdin feeds the command (docker import -, docker cp -); nil: none.
	Stdin io.Reader
	// Stdout, when set, receives the output as it comes (large or streamed
	// output); the returned stdout is then empty.
	Stdout io.Writer
}

// Client calls the docker CLI.
type Client struct {
	binary string
	exec   Exec
}

// Option configures a Client.
type Option func(*Client)

// WithBinary names the docker CLI (default "docker"; e.g. a podman shim).
func WithBinary(b string) Option { return func(c *Client) { c.binary = b } }

// WithExec replaces how commands run (unit tests).
func WithExec(e Exec) Option { return func(c *Client) { c.exec = e } }

// New returns a client of the docker CLI.
func New(opts ...Option) *Client {
	c := &Client{binary: "docker"}
	for _, o := range opts {
		o(c)
	}
	if c.exec == nil {
		c.exec = c.run
	}
	return c
}

// Default is the client of the docker CLI on $PATH.
var Default = New()

// Binary is the CLI the client runs.
func (c *Client) Binary() string { return c.binary }

// maxStderr bounds what an error keeps of docker's stderr.
const maxStderr = 4 << 10

// Error is a docker command that failed.
type Error struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *Error) Error() string {
	msg := "docker " + strings.Join(shortArgs(e.Args), " ") + ": " + e.Err.Error()
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// NotFound reports whether docker said the object (image, container) does not exist.
func (e *Error) NotFound() bool {
	s := strings.ToLower(e.Stderr)
	return strings.Contains(s, "no such object") || strings.Contains(s, "no such container") || strings.Contains(s, "no such image")
}

// IsNotFound reports whether err is a docker call that found no such object.
func IsNotFound(err error) bool {
	var de *Error
	return errors.As(err, &de) && de.NotFound()
}

// shortArgs keeps error messages readable when a call names many images.
func shortArgs(args []string) []string {
	if len(args) <= 8 {
		return args
	}
	return append(append([]string{}, args[:8]...), fmt.Sprintf("…(%d more)", len(args)-8))
}

// Run runs docker with args and returns its trimmed stdout.
func (c *Client) Run(ctx context.Context, args ...string) (string, error) {
	out, err := c.Do(ctx, Call{Args: args})
	return strings.TrimSpace(out), err
}

// Do runs one call and returns its stdout (empty when Call.Stdout is set).
func (c *Client) Do(ctx context.Context, call Call) (string, error) {
	out, serr, err := c.exec(ctx, call)
	if err != nil {
		return string(out), &Error{Args: call.Args, Stderr: tail(serr), Err: err}
	}
	return string(out), nil
}

// Succeeds reports whether docker with args exits 0 (e.g. image inspect).
func (c *Client) Succeeds(ctx context.Context, args ...string) bool {
	_, err := c.Run(ctx, args...)
	return err == nil
}

// Logged runs a call whose output goes to w (a build log), with the command
// line written first; stderr goes to w as well and its end into the error.
func (c *Client) Logged(ctx context.Context, w io.Writer, args ...string) error {
	fmt.Fprintf(w, "$ %s %s\n", c.binary, strings.Join(args, " "))
	_, err := c.Do(ctx, Call{Args: args, Stdout: w})
	return err
}

func (c *Client) run(ctx context.Context, call Call) ([]byte, []byte, error) {
	cmd := proc.Command(ctx, c.binary, call.Args...)
	cmd.Stdin = call.Stdin
	var out bytes.Buffer
	serr := &boundedTail{max: maxStderr}
	cmd.Stdout, cmd.Stderr = &out, serr
	if call.Stdout != nil {
		cmd.Stdout = call.Stdout
		cmd.Stderr = io.MultiWriter(call.Stdout, serr)
	}
	err := cmd.Run()
	if err != nil && errors.Is(err, exec.ErrNotFound) {
		err = fmt.Errorf("%w (install Docker, or set PATH so that %q is found)", err, c.binary)
	}
	return out.Bytes(), serr.Bytes(), err
}

// boundedTail keeps the last max bytes written: the end of a long stderr is
// where docker says what failed.
type boundedTail struct {
	max int
	b   []byte
}

func (t *boundedTail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *boundedTail) Bytes() []byte { return t.b }

func tail(b []byte) string {
	if len(b) > maxStderr {
		b = b[len(b)-maxStderr:]
	}
	return string(b)
}

// Host names the engine the CLI talks to: $DOCKER_HOST, or the default socket.
func Host() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock"
}

// RemoveContainer removes a container the harness started, by name, ignoring
// "no such container". When ctx was cancelled, the `docker run` that made it
// was cut short and the engine may still be creating it: it is removed again
// a moment later.
func (c *Client) RemoveContainer(ctx context.Context, name string) {
	_, _ = c.Run(context.Background(), "rm", "-f", name)
	if ctx.Err() != nil {
		time.Sleep(time.Second)
		_, _ = c.Run(context.Background(), "rm", "-f", name)
	}
}
