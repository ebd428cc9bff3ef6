package wire

import (
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// CaptureInput configures Capture.
type CaptureInput struct {
	// Port is the server port watched (the runner's, 8001).
	Port uint16
	// Limits bound memory; zero fields take DefaultLimits.
	Limits Limits
	// StatsEvery is how often a stats line is written (default 10 s).
	StatsEvery time.Duration
	// Node names the node in the ready line.
	Node string
	Out  io.Writer
}

// DefaultPort is the runner's port (docs/platform.md §3.5: it listens on 8001 only).
const DefaultPort = 8001

func (in CaptureInput) withDefaults() CaptureInput {
	if in.Port == 0 {
		in.Port = DefaultPort
	}
	if in.StatsEvery <= 0 {
		in.StatsEvery = 10 * time.Second
	}
	if in.Out == nil {
		in.Out = os.Stdout
	}
	return in
}

// lineWriter writes one JSON object a line.
type lineWriter struct{ enc *json.Encoder }

func newLineWriter(w io.Writer) *lineWriter { return &lineWriter{enc: json.NewEncoder(w)} }

func (w *lineWriter) write(v any) error { return w.enc.Encode(v) }

// readCgroupInt reads one number from a cgroup file; 0 when absent.
func readCgroupInt(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 64))
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// WriteError writes the error line the harness reads when the capture fails.
func WriteError(w io.Writer, err error) error {
	return newLineWriter(w).write(Error{Kind: KindError, Time: time.Now().UTC(), Message: err.Error()})
}
