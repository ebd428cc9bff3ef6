package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestNodeRestartedTellsAFreshNodeFromOneTheEngineStartedAgain(t *testing.T) {
	ready := time.Date(2026, 12, 1, 19, 21, 30, 0, time.UTC)
	for _, tc := range []struct {
		inspect string
		readyAt time.Time
		want    string
	}{
		{"/uh-x-control-plane true 2026-12-01T19:20:23.55Z 2026-12-01T19:20:25.10Z\n", ready, ""},
		// docker run took 89 s on a loaded machine: still kind's own start.
		{"/uh-x-control-plane true 2026-12-01T19:19:23.55Z 2026-12-01T19:20:52.10Z", ready, ""},
		{"/uh-x-control-plane true 2026-12-01T19:20:23.551391168Z 2026-12-01T19:49:37.501193518Z", ready, "node uh-x-control-plane was started again at 19:49:37, after the cluster was ready (19:21:30)"},
		{"/uh-x-control-plane true 2026-12-01T19:20:23.551391168Z 2026-12-01T19:49:37.501193518Z", time.Time{}, "node uh-x-control-plane was started again 29m14s after kind created it"},
		{"/uh-x-control-plane true 2026-12-01T19:19:23.55Z 2026-12-01T19:20:52.10Z", time.Time{}, ""},
		{"/uh-x-control-plane false 2026-12-01T19:20:23Z 2026-12-01T19:20:25Z", ready, "node uh-x-control-plane is not running"},
		{"/uh-x-control-plane true 2026-12-01T19:20:23Z 0001-01-01", ready, "node uh-x-control-plane has no readable start time"},
		{"garbage", ready, "its node containers cannot be inspected"},
	} {
		if got := nodeRestarted(tc.inspect, tc.readyAt); got != tc.want {
			t.Errorf("nodeRestarted(%q, %v) = %q, want %q", strings.TrimSpace(tc.inspect), tc.readyAt, got, tc.want)
		}
	}
}
