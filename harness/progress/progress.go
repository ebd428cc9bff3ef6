// Package progress prints one line when a phase starts and one when it ends,
// with its duration, so that no long wait is silent.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Printer writes phase lines.
type Printer struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// New returns a printer writing to w.
func New(w io.Writer) *Printer { return &Printer{w: w, now: time.Now} }

// Phase runs fn between a start line and an end line with its duration.
func (p *Printer) Phase(name string, fn func() error) error {
	start := p.now()
	p.printfAt(start, "▶ %s", name)
	err := fn()
	end := p.now()
	d := end.Sub(start).Round(100 * time.Millisecond)
	if err != nil {
		p.printfAt(end, "✗ %s failed after %s: %v", name, d, err)
		return err
	}
	p.printfAt(end, "✓ %s (%s)", name, d)
	return nil
}

// Waiting says what a long wait waits for.
func (p *Printer) Waiting(format string, a ...any) { p.printfAt(p.now(), "… "+format, a...) }

func (p *Printer) printfAt(t time.Time, format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%s] %s\n", t.Format("15:04:05"), fmt.Sprintf(format, a...))
}
