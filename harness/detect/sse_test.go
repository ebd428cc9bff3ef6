package detect

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

const sse401Body = `: heartbeat

data: {"type":"RAW","event":{"type":"message_metadata","hidden":true}}

data: {"type":"MESSAGES_SNAPSHOT","messages":[{"id":"m1","role":"user","content":"hi"}]}

data: {"type":"RUN_STARTED","threadId":"t1","runId":"r1","timestamp":1795899600000}

data: {"type":"RUN_ERROR","message":"Runner error: HTTP 401","threadId":"t1","runId":"r1"}

: heartbeat
`

func TestParseEventStream(t *testing.T) {
	var got []Event
	if err := ParseEventStream(strings.NewReader(sse401Body), func(e Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range got {
		if e.Heartbeat {
			types = append(types, "♥")
		} else {
			types = append(types, e.Type)
		}
	}
	if want := "♥ RAW MESSAGES_SNAPSHOT RUN_STARTED RUN_ERROR ♥"; strings.Join(types, " ") != want {
		t.Fatalf("events = %v, want %s", types, want)
	}
	if !got[4].IsRunError401() || got[3].IsRunError401() {
		t.Errorf("IsRunError401 wrong: %+v", got[4])
	}
	if got[3].RunID != "r1" || got[3].ThreadID != "t1" || !got[3].Time.Equal(time.UnixMilli(1795899600000).UTC()) {
		t.Errorf("RUN_STARTED fields: %+v", got[3])
	}
}

func TestParseEventStreamMultiLineAndNoTrailingBlank(t *testing.T) {
	body := "event: message\ndata: {\"type\":\"RUN_FINISHED\",\ndata: \"runId\":\"r2\"}\r\n\r\ndata: {\"type\":\"RUN_ERROR\",\"message\":\"Runner is not available\"}"
	var got []Event
	if err := ParseEventStream(strings.NewReader(body), func(e Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != "RUN_FINISHED" || got[0].RunID != "r2" || got[1].Type != "RUN_ERROR" || got[1].IsRunError401() {
		t.Fatalf("got %+v", got)
	}
}

func TestParseEventStreamBadJSON(t *testing.T) {
	err := ParseEventStream(strings.NewReader("data: {\"type\":\"RUN_STARTED\"}\n\ndata: not json\n\n"), func(Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "SSE event 2") {
		t.Fatalf("want an error naming event 2, got %v", err)
	}
}

func TestObserveEventStream(t *testing.T) {
	l := ledger.New()
	l.MarkPhase(ledger.PhaseDuring, time.UnixMilli(1795899600000+1000))
	if err := ObserveEventStream(context.Background(), strings.NewReader(sse401Body), "proj-a", "session-b", l); err != nil {
		t.Fatal(err)
	}
	all := l.All()
	if len(all) != 4 {
		t.Fatalf("want 4 observations (heartbeats skipped), got %d: %+v", len(all), all)
	}
	var run401 []ledger.Observation
	for _, o := range all {
		if o.Namespace != "proj-a" || o.Session != "session-b" || o.Source != "agui-events:proj-a/session-b" {
			t.Errorf("observation not attributed: %+v", o)
		}
		if o.Signal == ledger.SignalRunError401 {
			run401 = append(run401, o)
		}
		if o.Signal == ledger.SignalRunEvent && o.Detail == "RUN_STARTED" && o.Phase != ledger.PhaseBefore {
			t.Errorf("RUN_STARTED stamped before the upgrade must be phase before, got %s", o.Phase)
		}
	}
	if len(run401) != 1 || run401[0].Detail != "RUN_ERROR Runner error: HTTP 401" || run401[0].Status != 401 || run401[0].Caller != ledger.CallerBackend {
		t.Fatalf("RUN_ERROR 401 observation: %+v", run401)
	}
}
