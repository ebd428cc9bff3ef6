// Package progress prints one line when a phase starts and one when it ends,
// with its duration, so that no long wait is silent, and keeps each phase's
// timing for results (bench reads them there, not from the log).
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

// Phase is one finished phase: its key, printed name, start and duration.
type Phase struct {
	// Step is the phase's stable key (e.g. "upgrade"); Name is what was printed.
	Step    string        `json:"step"`
	Name    string        `json:"name"`
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"tookNs"`
	Error   string        `json:"error,omitempty"`
}

// Printer writes phase lines.
type Printer struct {
	mu     sync.Mutex
	w      io.Writer
	now    func() time.Time
	phases []Phase
	// running are the names of the phases started and not yet ended, innermost last.
	running []string
}

// New returns a printer writing to w.
func New(w io.Writer) *Printer { return &Printer{w: w, now: time.Now} }

// Phase runs fn between a start line and an end line with its duration; the
// step key is the name itself.
func (p *Printer) Phase(name string, fn func() error) error { return p.Step(name, name, fn) }

// Step is Phase with a stable key for the timing, for names that vary (e.g.
// "deploy v0.2.0" under step "deploy"). A step's error comes back wrapped
// with its name as a *fault.StageError ("deploy v0.2.0: …"); errors.Is and
// errors.As still see the error inside, and fault.KindOf its kind.
func (p *Printer) Step(step, name string, fn func() error) error {
	start := p.now()
	p.printfAt(start, "▶ %s", name)
	p.mu.Lock()
	p.running = append(p.running, name)
	p.mu.Unlock()
	err := fn()
	end := p.now()
	t := Phase{Step: step, Name: name, Started: start, Took: end.Sub(start)}
	if err != nil {
		t.Error = err.Error()
	}
	p.mu.Lock()
	p.phases = append(p.phases, t)
	for i := len(p.running) - 1; i >= 0; i-- {
		if p.running[i] == name {
			p.running = append(p.running[:i], p.running[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	d := t.Took.Round(100 * time.Millisecond)
	if err != nil {
		p.printfAt(end, "✗ %s failed after %s: %v", name, d, err)
		// The error carries its stage, so whoever reports it says where (its
		// message, and fault.Stages for code).
		return fault.InStage(name, err)
	}
	p.printfAt(end, "✓ %s (%s)", name, d)
	return nil
}

// Phases returns the finished phases in the order they ended.
func (p *Printer) Phases() []Phase {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Phase(nil), p.phases...)
}

// Current is the innermost phase that has started and not ended ("" between phases).
func (p *Printer) Current() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.running) == 0 {
		return ""
	}
	return p.running[len(p.running)-1]
}

// Waiting says what a long wait waits for.
func (p *Printer) Waiting(format string, a ...any) { p.printfAt(p.now(), "… "+format, a...) }

func (p *Printer) printfAt(t time.Time, format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%s] %s\n", t.Format("15:04:05"), fmt.Sprintf(format, a...))
}
