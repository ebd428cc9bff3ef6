package detect

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// RunError401Message is what the backend publishes when the runner answers its
// run POST with 401 (docs/platform.md §5 "How a runner 401 reaches the user").
const RunError401Message = "Runner error: HTTP 401"

// Event is one AG-UI server-sent event, or a heartbeat comment.
type Event struct {
	// Heartbeat is true for the ": heartbeat" comment the backend sends every 15 s.
	Heartbeat bool
	Type      string
	Message   string
	RunID     string
	ThreadID  string
	// Time is the event's own timestamp (milliseconds since the epoch) when present.
	Time time.Time
	// Data is the raw JSON payload.
	Data string
}

// IsRunError401 reports whether the event is the synthetic RUN_ERROR a runner
// 401 turns into.
func (e Event) IsRunError401() bool {
	return e.Type == "RUN_ERROR" && strings.TrimSpace(e.Message) == RunError401Message
}

type eventPayload struct {
	Type      string          `json:"type"`
	Message   string          `json:"message"`
	RunID     string          `json:"runId"`
	ThreadID  string          `json:"threadId"`
	Timestamp json.RawMessage `json:"timestamp"`
}

// ParseEventStream reads an SSE body and calls fn for each event in order. Data
// lines of one event are joined with "\n" as the SSE format says; an event is
// complete at a blank line or at the end of the body. It returns fn's error, a
// read error, or a decode error naming the offending payload's event number.
func ParseEventStream(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 8*1024*1024)
	var data []string
	n := 0
	flush := func() error {
		if len(data) == 0 {
			return nil
		}
		n++
		raw := strings.Join(data, "\n")
		data = data[:0]
		var p eventPayload
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return fmt.Errorf("SSE event %d: data is not an AG-UI JSON event (%v); want data: {\"type\":...}", n, err)
		}
		return fn(Event{Type: p.Type, Message: p.Message, RunID: p.RunID, ThreadID: p.ThreadID, Time: eventTime(p.Timestamp), Data: raw})
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case line == "":
			if err := flush(); err != nil {
				return err
			}
		case strings.HasPrefix(line, ":"):
			if strings.TrimSpace(line[1:]) == "heartbeat" {
				if err := fn(Event{Heartbeat: true}); err != nil {
					return err
				}
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		default:
			// event:, id:, retry: carry nothing the verdict needs.
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading SSE body after %d events: %w", n, err)
	}
	return flush()
}

func eventTime(raw json.RawMessage) time.Time {
	if len(raw) == 0 {
		return time.Time{}
	}
	var ms float64
	if json.Unmarshal(raw, &ms) == nil && ms > 0 {
		return time.UnixMilli(int64(ms)).UTC()
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// ObserveEventStream records every event of a session's agui/events SSE body in
// l: SignalRunError401 for the 401 RUN_ERROR, SignalRunEvent otherwise (Detail
// is the event type; a RUN_ERROR's Detail also carries its message). Each
// entry keeps the event's own time, so the ledger places replayed events in
// the phase they happened in. It returns
// when the body ends or ctx is done; the caller closes r (e.g. by cancelling the
// request) to interrupt a blocked read.
func ObserveEventStream(ctx context.Context, r io.Reader, ns, session string, l *ledger.Ledger) error {
	source := "agui-events:" + ns + "/" + session
	err := ParseEventStream(r, func(e Event) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Heartbeat {
			return nil
		}
		obs := ledger.Observation{
			Time:      e.Time,
			Signal:    ledger.SignalRunEvent,
			Source:    source,
			Namespace: ns,
			Session:   session,
			Detail:    e.Type,
		}
		if e.Type == "RUN_ERROR" {
			obs.Detail = Redact(strings.TrimSpace(e.Type + " " + e.Message))
		}
		if e.IsRunError401() {
			obs.Signal = ledger.SignalRunError401
			obs.Caller, obs.Method, obs.Path, obs.Status = ledger.CallerBackend, "POST", "/", 401
		}
		l.Add(obs)
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}
