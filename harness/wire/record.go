package wire

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Line kinds of the witness's output, one JSON object a line.
const (
	KindReady   = "ready"
	KindRequest = "request"
	KindStats   = "stats"
	KindError   = "error"
)

// Request is one HTTP request to the watched port, emitted once its response
// head was seen, or with Status 0 once it waited ResponseTimeout, its
// connection closed, or the witness stopped (Ended says which).
type Request struct {
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	// Src is the client's address; Dst the server's as first seen.
	Src string `json:"src"`
	Dst string `json:"dst"`
	// ServerIPs are every server address the connection was seen with, in
	// order: a call through a Service shows its ClusterIP on the caller's
	// interface and the runner pod's IP (after DNAT) on the runner's.
	ServerIPs []string `json:"serverIPs"`
	Method    string   `json:"method"`
	// Path is the request target without its query (a query may carry a token).
	Path   string `json:"path"`
	Status int    `json:"status"`
	// ResponseTime is when the response head was seen.
	ResponseTime *time.Time `json:"responseTime,omitempty"`
	// Ended says why Status is 0: "timeout", "closed", "idle",
	// "pending-limit" or "shutdown".
	Ended        string        `json:"ended,omitempty"`
	HeaderNames  []string      `json:"headerNames"`
	TokenHeaders []TokenHeader `json:"tokenHeaders,omitempty"`
}

// Drops counts what the witness saw but could not use.
type Drops struct {
	// HeadTooLarge: a head longer than the head limit (the stream is
	// picked up again at its next request).
	HeadTooLarge uint64 `json:"headTooLarge"`
	// BadHead: bytes where a head should start that do not parse.
	BadHead uint64 `json:"badHead"`
	// ConnLimit: a new connection while the connection limit was reached.
	ConnLimit uint64 `json:"connLimit"`
	// OutOfOrder: a segment past a hole when the out-of-order buffer was full.
	OutOfOrder uint64 `json:"outOfOrder"`
	// BufferLimit: data that would have passed the global buffer budget.
	BufferLimit uint64 `json:"bufferLimit"`
	// Midstream: segments of a connection seen first in the middle of a message.
	Midstream uint64 `json:"midstream"`
	// PendingLimit: requests emitted early because too many awaited answers.
	PendingLimit uint64 `json:"pendingLimit"`
	// Malformed: frames that did not decode.
	Malformed uint64 `json:"malformed"`
	// Truncated: frames larger than the read buffer.
	Truncated uint64 `json:"truncated"`
	// Kernel: frames the kernel dropped because the socket's buffer was full.
	Kernel uint64 `json:"kernel"`
}

// Total is every drop.
func (d Drops) Total() uint64 {
	return d.HeadTooLarge + d.BadHead + d.ConnLimit + d.OutOfOrder + d.BufferLimit + d.Midstream +
		d.PendingLimit + d.Malformed + d.Truncated + d.Kernel
}

// Stats is the witness's periodic account of its work and cost.
type Stats struct {
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	// Packets are frames read from the socket (after its port filter).
	Packets uint64 `json:"packets"`
	// Segments are TCP segments to or from the port.
	Segments     uint64 `json:"segments"`
	PayloadBytes uint64 `json:"payloadBytes"`
	// Duplicates are segments whose data was seen already: the copy on the
	// second interface of a pod-to-pod hop, or a retransmission.
	Duplicates      uint64 `json:"duplicates"`
	Requests        uint64 `json:"requests"`
	Responses       uint64 `json:"responses"`
	Unanswered      uint64 `json:"unanswered"`
	OrphanResponses uint64 `json:"orphanResponses"`
	Conns           int    `json:"conns"`
	ConnsTotal      uint64 `json:"connsTotal"`
	BufferedBytes   int    `json:"bufferedBytes"`
	Drops           Drops  `json:"drops"`
	// The process's own cost: CPU (user+system) and peak resident memory,
	// and its cgroup's memory when readable (0 otherwise).
	CPUSeconds        float64 `json:"cpuSeconds"`
	MaxRSSBytes       int64   `json:"maxRSSBytes"`
	CgroupMemoryBytes int64   `json:"cgroupMemoryBytes,omitempty"`
	CgroupMemoryPeak  int64   `json:"cgroupMemoryPeak,omitempty"`
}

// Ready is the first line: the socket is open and filtered.
type Ready struct {
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	Port int       `json:"port"`
	Node string    `json:"node,omitempty"`
}

// Error is a line the witness writes before it exits on a failure.
type Error struct {
	Kind    string    `json:"kind"`
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

// Line is one decoded output line; exactly one field is set.
type Line struct {
	Ready   *Ready
	Request *Request
	Stats   *Stats
	Error   *Error
}

// MaxLineBytes bounds one output line: a request line carries header names,
// never values, so anything longer is not the witness's.
const MaxLineBytes = 256 << 10

// DecodeLine decodes one output line.
func DecodeLine(b []byte) (Line, error) {
	var k struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return Line{}, fmt.Errorf("wire witness line is not JSON: %w", err)
	}
	var l Line
	var v any
	switch k.Kind {
	case KindReady:
		l.Ready = &Ready{}
		v = l.Ready
	case KindRequest:
		l.Request = &Request{}
		v = l.Request
	case KindStats:
		l.Stats = &Stats{}
		v = l.Stats
	case KindError:
		l.Error = &Error{}
		v = l.Error
	default:
		return Line{}, fmt.Errorf("wire witness line has kind %q; valid: %s, %s, %s, %s", k.Kind, KindReady, KindRequest, KindStats, KindError)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return Line{}, fmt.Errorf("wire witness %s line: %w", k.Kind, err)
	}
	return l, nil
}

// ErrLineTooLong is returned by Lines for a line over MaxLineBytes.
var ErrLineTooLong = errors.New("wire witness line longer than 256 KiB")

// Lines reads r line by line with a bounded buffer, calling fn for each
// non-empty line; a line over MaxLineBytes ends it with ErrLineTooLong.
func Lines(r io.Reader, fn func([]byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return ErrLineTooLong
	}
	return sc.Err()
}
