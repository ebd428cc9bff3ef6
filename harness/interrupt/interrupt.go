// Package interrupt turns SIGINT and SIGTERM into a cancelled context whose
// cause names the signal, so that every phase stops, cleans up what it made
// (clusters, containers, temporary files, child processes) and the reports
// keep what was decided, and the process then exits with the shell's code for
// that signal: 130 for SIGINT, 143 for SIGTERM. A second signal ends the
// process at once, leaving whatever is still running.
package interrupt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Error is the cause of a context cancelled by a signal.
type Error struct {
	Signal syscall.Signal
	// At is when the signal arrived: before anything reacted to it, so the
	// phase it interrupted is the one running at At.
	At time.Time
}

func (e *Error) Error() string { return "interrupted by " + Name(e.Signal) }

// ExitCode is 128 + the signal number, as shells report a command a signal ended.
func (e *Error) ExitCode() int { return 128 + int(e.Signal) }

// StoppedAt is when the signal arrived.
func (e *Error) StoppedAt() time.Time { return e.At }

// Name is the signal's conventional name (SIGINT, SIGTERM).
func Name(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return fmt.Sprintf("signal %d", int(s))
}

// Signals are the signals Notify handles.
var Signals = []os.Signal{syscall.SIGINT, syscall.SIGTERM}

// Of returns the interrupt that cancelled ctx, if one did.
func Of(ctx context.Context) (*Error, bool) {
	return From(context.Cause(ctx))
}

// From finds an interrupt in err's chain.
func From(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Options configures Notify.
type Options struct {
	// Log receives one line per signal; nil discards.
	Log io.Writer
	// Exit ends the process on the second signal; default os.Exit.
	Exit func(code int)
	// signals replaces signal.Notify's channel (tests).
	signals chan os.Signal
}

// Notify returns a context cancelled with an *Error at the first SIGINT or
// SIGTERM. The second signal calls Exit with its code without waiting for any
// cleanup. stop releases the signal handler.
func Notify(parent context.Context, o Options) (context.Context, func()) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Exit == nil {
		o.Exit = os.Exit
	}
	ch := o.signals
	if ch == nil {
		ch = make(chan os.Signal, 2)
		signal.Notify(ch, Signals...)
	}
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	go func() {
		first := true
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				sig, _ := s.(syscall.Signal)
				e := &Error{Signal: sig, At: time.Now()}
				if first {
					first = false
					fmt.Fprintf(o.Log, "upgrade-harness: %s: stopping and cleaning up (clusters, containers, temporary files); the reports keep what was decided. A second signal exits at once and leaves whatever is running.\n", Name(sig))
					cancel(e)
					continue
				}
				fmt.Fprintf(o.Log, "upgrade-harness: second signal (%s): exiting now without cleanup (exit %d)\n", Name(sig), e.ExitCode())
				o.Exit(e.ExitCode())
				return
			}
		}
	}()
	return ctx, func() {
		if o.signals == nil {
			signal.Stop(ch)
		}
		close(done)
		cancel(context.Canceled)
	}
}
