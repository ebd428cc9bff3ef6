package interrupt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestFirstSignalCancelsWithItsCause(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGINT, 130, "SIGINT"}, {syscall.SIGTERM, 143, "SIGTERM"}} {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan os.Signal, 2)
			var log bytes.Buffer
			ctx, stop := Notify(context.Background(), Options{Log: &syncWriter{w: &log}, signals: ch, Exit: func(int) { t.Error("exited on the first signal") }})
			defer stop()
			ch <- tc.sig
			<-ctx.Done()
			e, ok := Of(ctx)
			if !ok {
				t.Fatalf("cause %v is no interrupt", context.Cause(ctx))
			}
			if e.ExitCode() != tc.code || e.Error() != "interrupted by "+tc.name {
				t.Fatalf("got %q exit %d, want interrupted by %s exit %d", e.Error(), e.ExitCode(), tc.name, tc.code)
			}
			if _, ok := From(fmt.Errorf("cell: %w", context.Cause(ctx))); !ok {
				t.Fatalf("a wrapped interrupt is not found")
			}
		})
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	ch := make(chan os.Signal, 2)
	codes := make(chan int, 1)
	var log bytes.Buffer
	ctx, stop := Notify(context.Background(), Options{Log: &syncWriter{w: &log}, signals: ch, Exit: func(c int) { codes <- c }})
	defer stop()
	ch <- syscall.SIGTERM
	<-ctx.Done()
	ch <- syscall.SIGINT
	if got := <-codes; got != 130 {
		t.Fatalf("second signal SIGINT: exit %d, want 130", got)
	}
}

func TestStopIsNoInterrupt(t *testing.T) {
	ctx, stop := Notify(context.Background(), Options{signals: make(chan os.Signal)})
	stop()
	<-ctx.Done()
	if _, ok := Of(ctx); ok {
		t.Fatalf("a stopped handler reads as an interrupt")
	}
	if _, ok := From(context.Canceled); ok || strings.Contains(context.Canceled.Error(), "interrupted") {
		t.Fatalf("context.Canceled reads as an interrupt")
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
