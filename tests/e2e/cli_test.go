package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
)

// cliRun is the CLI under test running as a subprocess: every line it prints
// is kept (and copied to copyTo), Seen closes at the first line containing
// the trigger, and Exited delivers cmd.Wait's error once every line is kept
// (cmd.Wait returns when the bytes are handed over, before the last lines
// are read: asserting on the output earlier misses its closing line).
type cliRun struct {
	Cmd    *exec.Cmd
	Seen   chan struct{}
	Exited chan error
	mu     sync.Mutex
	out    strings.Builder
}

// startCLI starts cmd (configured by the caller) with its output collected.
func startCLI(cmd *exec.Cmd, trigger string, copyTo io.Writer) (*cliRun, error) {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &cliRun{Cmd: cmd, Seen: make(chan struct{}), Exited: make(chan error, 1)}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.out.WriteString(line + "\n")
			r.mu.Unlock()
			if copyTo != nil {
				fmt.Fprintln(copyTo, line)
			}
			if !once && strings.Contains(line, trigger) {
				once = true
				close(r.Seen)
			}
		}
		_, _ = io.Copy(io.Discard, pr) // a line over 1 MiB ends the scan, never the child
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-scanned
		r.Exited <- err
	}()
	return r, nil
}

// Output is what the run printed so far (all of it once Exited delivered).
func (r *cliRun) Output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}
