// Package fault is the harness's error vocabulary: what kind of failure an
// error is (bad input, infrastructure, a regression) and the stage it came
// from. Domain packages return these types; only the commands under
// harness/cmd turn a kind into a process exit code.
package fault

import (
	"errors"
	"fmt"
)

// Kind is what went wrong, as far as whoever runs the harness must act on it.
type Kind int

const (
	// KindNone: no error.
	KindNone Kind = iota
	// KindUnknown: an error that says nothing about its kind (never a pass).
	KindUnknown
	// KindRegression: a verdict differed from its expectation.
	KindRegression
	// KindBadInput: a catalog, file, flag or argument is invalid.
	KindBadInput
	// KindInfrastructure: a cluster, the container engine, an image build or
	// the API server failed.
	KindInfrastructure
	// KindInterrupted: a signal stopped the run (its caller says so; no
	// error of this package has it).
	KindInterrupted
)

func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindRegression:
		return "regression"
	case KindBadInput:
		return "bad input"
	case KindInfrastructure:
		return "infrastructure"
	case KindInterrupted:
		return "interrupted"
	}
	return "unknown"
}

// kinded is what every typed error of this package is.
type kinded interface {
	error
	faultKind() Kind
}

// KindOf is the kind of the outermost typed error in err's chain (errors.As
// order, so a wrapper decides over what it wraps): KindNone for nil,
// KindUnknown for an error without a kind.
func KindOf(err error) Kind {
	if err == nil {
		return KindNone
	}
	var k kinded
	if errors.As(err, &k) {
		return k.faultKind()
	}
	return KindUnknown
}

// BadInput is an input the harness refuses. File, Field and Value say which
// one when the caller knows them; the message (Err) always does.
type BadInput struct {
	File, Field, Value string
	Err                error
}

func (e *BadInput) Error() string   { return e.Err.Error() }
func (e *BadInput) Unwrap() error   { return e.Err }
func (e *BadInput) faultKind() Kind { return KindBadInput }

// BadInputErr marks err as bad input; its message is err's.
func BadInputErr(err error) error { return &BadInput{Err: err} }

// NewBadInput is bad input in file (may be ""), field, value: the message
// names all three and what would be valid (want).
func NewBadInput(file, field, value, want string) error {
	where := field
	if file != "" {
		where = file + ": " + field
	}
	return &BadInput{File: file, Field: field, Value: value, Err: fmt.Errorf("%s %q: want %s", where, value, want)}
}

// Infrastructure is a failure of the machine the harness runs on, not of the
// platform under test. Stage is the innermost stage it failed in ("" when it
// failed outside any), as Stages reads it when it was made.
type Infrastructure struct {
	Stage string
	Err   error
}

func (e *Infrastructure) Error() string   { return e.Err.Error() }
func (e *Infrastructure) Unwrap() error   { return e.Err }
func (e *Infrastructure) faultKind() Kind { return KindInfrastructure }

// InfraErr marks err as an infrastructure failure; its message is err's.
func InfraErr(err error) error {
	stage := ""
	if s := Stages(err); len(s) > 0 {
		stage = s[len(s)-1]
	}
	return &Infrastructure{Stage: stage, Err: err}
}

// Regression is the outcome of a run whose verdicts differed from their
// expectations; Err says which.
type Regression struct{ Err error }

func (e *Regression) Error() string   { return e.Err.Error() }
func (e *Regression) Unwrap() error   { return e.Err }
func (e *Regression) faultKind() Kind { return KindRegression }

// RegressionErr marks err as a regression; its message is err's.
func RegressionErr(err error) error { return &Regression{Err: err} }

// StageError is an error with the stage it happened in; its message is
// "stage: err". It has no kind of its own: KindOf sees through it.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// InStage wraps err with the stage it happened in (nil stays nil).
func InStage(stage string, err error) error {
	if err == nil {
		return nil
	}
	return &StageError{Stage: stage, Err: err}
}

// Stages are the stages err passed through, outermost first (e.g. "cell
// v0.2.0 → v0.2.2", "upgrade"): the last is where it failed.
func Stages(err error) []string {
	var out []string
	walk(err, func(e error) {
		if s, ok := e.(*StageError); ok {
			out = append(out, s.Stage)
		}
	})
	return out
}

// walk visits err's tree depth first, as errors.As does.
func walk(err error, visit func(error)) {
	if err == nil {
		return
	}
	visit(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, visit)
		}
	}
}
