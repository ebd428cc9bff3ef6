package secrets

import (
	"bytes"
	"io"
	"sync"
)

// Writer redacts whole lines before passing them on: a secret split across
// two Write calls is still caught, because nothing is emitted before its
// line is complete. Call Close (or Flush) to emit a last unterminated line.
type Writer struct {
	mu  sync.Mutex
	r   *Redactor
	out io.Writer
	buf []byte
}

// NewWriter wraps out so that everything written to it goes through r.
func NewWriter(out io.Writer, r *Redactor) *Writer { return &Writer{r: r, out: out} }

// Write buffers p and writes every completed line, redacted.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := w.r.Redact(string(w.buf[:i+1]))
		w.buf = w.buf[i+1:]
		if _, err := io.WriteString(w.out, line); err != nil {
			return len(p), err
		}
	}
}

// Flush writes a pending partial line, redacted.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	line := w.r.Redact(string(w.buf))
	w.buf = nil
	_, err := io.WriteString(w.out, line)
	return err
}

// Close flushes; it does not close the wrapped writer.
func (w *Writer) Close() error { return w.Flush() }
