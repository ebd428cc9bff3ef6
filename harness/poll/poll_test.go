package poll

import (
	"context"
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ambient-e2e/upgrade-harness/tests/support/testsupport"
)

// stepUntilDone steps clk by d whenever something waits on it, until done closes.
func stepUntilDone(t *testing.T, clk *clocktesting.FakeClock, d time.Duration, done <-chan struct{}) {
	t.Helper()
	for {
		testsupport.Eventually(t, "a wait on the clock or the end", func() bool {
			select {
			case <-done:
				return true
			default:
				return clk.HasWaiters()
			}
		})
		select {
		case <-done:
			return
		default:
			clk.Step(d)
		}
	}
}

func TestUntilChecksAtOnceThenEveryInterval(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	start := clk.Now()
	var at []time.Duration
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = Until(context.Background(), clk, time.Second, func(context.Context) (bool, error) {
			at = append(at, clk.Since(start))
			return len(at) == 3, nil
		})
	}()
	stepUntilDone(t, clk, time.Second, done)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, time.Second, 2 * time.Second}
	if len(at) != len(want) || at[0] != want[0] || at[1] != want[1] || at[2] != want[2] {
		t.Fatalf("checks at %v, want %v", at, want)
	}
}

func TestUntilReturnsTheConditionsError(t *testing.T) {
	boom := errors.New("boom")
	err := Until(context.Background(), clocktesting.NewFakeClock(time.Unix(0, 0)), time.Hour, func(context.Context) (bool, error) { return false, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestUntilEndsWithItsContext(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	checks := 0
	done := make(chan error)
	go func() {
		done <- Until(ctx, clk, time.Hour, func(context.Context) (bool, error) { checks++; return false, nil })
	}()
	testsupport.AwaitWaiters(t, clk, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || checks != 1 {
		t.Fatalf("err = %v after %d checks, want context.Canceled after 1", err, checks)
	}
	if err := Until(ctx, clk, time.Hour, func(context.Context) (bool, error) { t.Fatal("checked after ctx ended"); return true, nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v on an ended ctx", err)
	}
}

func TestSleepWaitsOnTheClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	done := make(chan error)
	go func() { done <- Sleep(context.Background(), clk, time.Minute) }()
	testsupport.AwaitWaiters(t, clk, 1)
	clk.Step(59 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("Sleep ended %v before its minute", err)
	default:
	}
	clk.Step(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, clk, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on an ended ctx = %v", err)
	}
}
