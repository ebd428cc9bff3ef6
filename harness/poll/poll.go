// Package poll holds the two waits the harness runs on an injectable clock
// (k8s.io/utils/clock), so unit tests step a fake clock instead of sleeping:
// a condition checked at an interval, on apimachinery's wait loop, and a sleep
// that ends with its context. Waits that need no fake clock call
// wait.PollUntilContextTimeout directly.
package poll

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
)

// Until checks condition at once and then every interval (counted from the end
// of the previous check) until it returns true or an error, or ctx ends. It
// returns condition's error, or ctx.Err() when ctx ended first.
func Until(ctx context.Context, clk clock.Clock, interval time.Duration, condition wait.ConditionWithContextFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	loopCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		done bool
		err  error
	)
	wait.BackoffUntilWithContext(loopCtx, func(ctx context.Context) {
		if done, err = condition(ctx); done || err != nil {
			stop()
		}
	}, Every(clk, interval), true)
	if done || err != nil {
		return err
	}
	return ctx.Err()
}

// Sleep waits d on clk; it returns ctx.Err() when ctx ends first.
func Sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// Every is a fixed interval on clk as a wait.BackoffManager, for
// wait.BackoffUntilWithContext: non-sliding, it calls at a fixed rate, and a
// call longer than the interval is followed by the next at once, never by a burst.
func Every(clk clock.Clock, interval time.Duration) wait.BackoffManager {
	return timerBackoff{clk: clk, every: interval}
}

type timerBackoff struct {
	clk   clock.Clock
	every time.Duration
}

func (b timerBackoff) Backoff() clock.Timer { return b.clk.NewTimer(b.every) }
