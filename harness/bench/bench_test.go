package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

func TestParseMiB(t *testing.T) {
	for in, want := range map[string]float64{"512MiB": 512, "1.5GiB": 1536, "2048KiB": 2, "junk": 0} {
		if got := parseMiB(in); got != want {
			t.Errorf("%s: got %v want %v", in, got, want)
		}
	}
}

func TestFirstSessionRunning(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	obs := []ledger.Observation{
		{Time: t0.Add(-time.Second), Signal: ledger.SignalCondition, Detail: "phase=Running"}, // an older session
		{Time: t0, Signal: ledger.SignalAPI, Path: "POST agentic-sessions", Status: 201},
		{Time: t0.Add(time.Second), Signal: ledger.SignalCondition, Detail: "phase=Creating"},
		{Time: t0.Add(2900 * time.Millisecond), Signal: ledger.SignalCondition, Detail: "phase=Running"},
		{Time: t0.Add(5 * time.Second), Signal: ledger.SignalCondition, Detail: "phase=Running"},
	}
	if d, ok := firstSessionRunning(obs); !ok || d != 2900*time.Millisecond {
		t.Fatalf("firstSessionRunning = %s, %v; want 2.9s", d, ok)
	}
	if _, ok := firstSessionRunning(obs[:3]); ok {
		t.Error("no Running after the create call, yet a figure")
	}
}

func TestDetectionLatency(t *testing.T) {
	base := time.Unix(1000, 0)
	obs := []ledger.Observation{
		{Signal: ledger.SignalRunner401, Time: base, Recorded: base.Add(300 * time.Millisecond)},
		{Signal: ledger.SignalRunner401, Time: base, Recorded: base.Add(100 * time.Millisecond)},
		{Signal: ledger.SignalRunner401, Time: base, Recorded: base.Add(900 * time.Millisecond)},
		{Signal: ledger.SignalAPI, Time: base, Recorded: base.Add(time.Hour)},
	}
	p50, max, n := detectionLatency(obs)
	if p50 != 300*time.Millisecond || max != 900*time.Millisecond || n != 3 {
		t.Fatalf("p50=%s max=%s n=%d", p50, max, n)
	}
}

func TestPrintTable(t *testing.T) {
	var buf bytes.Buffer
	PrintTable(&buf, &Report{Phases: []Phase{{Name: "deploy v0.2.0", Took: 12 * time.Second, Floor: 8 * time.Second, Ratio: 1.5, FloorOf: "kubectl"}},
		Scaling: []Scale{{Cells: 2, Mode: "reused", Total: time.Minute, PerCell: 30 * time.Second}}})
	for _, want := range []string{"deploy v0.2.0", "12s", "8s", "1.50", "reused", "30s"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestWriteMarkdownPublishesEveryFigureOfTheReport(t *testing.T) {
	var buf bytes.Buffer
	WriteMarkdown(&buf, &Report{When: time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC), Cell: "v0.2.0-v0.2.2", NodeImage: "n:1",
		Phases:       []Phase{{Name: "reset for the next cell", Took: 5900 * time.Millisecond}, {Name: "deploy v0.2.0", Took: 12 * time.Second, Floor: 8 * time.Second, Ratio: 1.5, FloorOf: "kubectl"}},
		DetectionP50: 1700 * time.Microsecond, DetectionMax: 906 * time.Millisecond, Detections: 75,
		Scaling: []Scale{{Cells: 2, Mode: "reused", Total: time.Minute, PerCell: 30 * time.Second}}, HarnessPeakRSSMB: 114, ClusterPeakMB: 667})
	for _, want := range []string{"### 2026-12-07 09:30 UTC — cell v0.2.0-v0.2.2", "| reset for the next cell | 5.9s |  |  |  |",
		"| deploy v0.2.0 | 12s | 8s | 1.50 | kubectl |", "p50 1.7ms, max 906ms over 75 runner 401s", "| 2 | reused | 1m0s | 30s |",
		"harness 114 MiB, cluster 667 MiB"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestSessionPodsCountsRunnersAndTheirLongestGracePeriod(t *testing.T) {
	pod := func(ns, name string, session bool, grace int64) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace}}
		if session {
			p.Labels = map[string]string{platform.SessionLabel: name}
		}
		return p
	}
	cs := fake.NewSimpleClientset(pod("uh-cell", "a-runner", true, 60), pod("uh-cell", "b-runner", true, 30),
		pod("ambient-code", "backend-api-1", false, 90), pod("other", "c-runner", true, 10))
	n, grace, err := sessionPods(context.Background(), cs)
	if err != nil || n != 3 || grace != 60*time.Second {
		t.Fatalf("sessionPods = %d, %s, %v; want 3 runner pods, 60s (the backend's 90 s is no runner's)", n, grace, err)
	}
}
