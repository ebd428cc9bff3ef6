package testsupport

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
)

// eventuallyWithin bounds a wait for a goroutine to get somewhere. It is no
// tolerance window: the condition is exact, and only a hung test reaches it.
const eventuallyWithin = 20 * time.Second

// Eventually waits until cond holds, checking every millisecond of real time,
// and fails the test naming what did not happen within 20 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, eventuallyWithin, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s", what, eventuallyWithin)
	}
}

// AwaitWaiters waits until at least n timers or tickers wait on clk, i.e. the
// goroutines under test reached their waits, so a Step lands where intended.
func AwaitWaiters(t testing.TB, clk *clocktesting.FakeClock, n int) {
	t.Helper()
	Eventually(t, "goroutines waiting on the fake clock", func() bool { return clk.Waiters() >= n })
}
