// Package bisect finds the first build that breaks an upgrade, the way git
// bisect finds a commit: it runs the cell from → build (the matrix's cell:
// same rules, evidence and diagnosis) on builds between a known-good and a
// known-bad one, halving the range each time. The search itself (Search) is
// pure and takes its steps from a StepFunc; Run wires it to a cluster.
package bisect

import (
	"context"
	"fmt"
	"math/bits"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Step is one cell the search ran: build Index of the list, its verdict.
type Step struct {
	Index int    `json:"index"`
	Build string `json:"build"`
	// Attempt is 1, or 2 for the retry of an inconclusive step.
	Attempt int `json:"attempt"`
	// Role says why the step ran: "verify good", "verify bad" or "halve".
	Role    string          `json:"role"`
	Verdict verdict.Verdict `json:"verdict"`
	// Error is set when the cell could not run (infrastructure); its verdict
	// is then inconclusive.
	Error string `json:"error,omitempty"`
	// Interrupted is set when a signal stopped the cell.
	Interrupted string        `json:"interrupted,omitempty"`
	Duration    time.Duration `json:"duration"`
	// Result is the whole cell result (nil in unit tests' fakes).
	Result *cellrun.Report `json:"-"`
}

// StepFunc runs the cell from → build i (attempt 1 or 2) and says what it showed.
type StepFunc func(ctx context.Context, i, attempt int) Step

// Status is how a search ended.
type Status string

const (
	// StatusFound: the first bad build is known (its predecessor passed).
	StatusFound Status = "found"
	// StatusRange: inconclusive builds were skipped; the first bad build is
	// one of Candidates (the skipped ones and the bad one), never guessed.
	StatusRange Status = "range"
	// StatusNoneBad: the known-bad build passes: nothing to bisect.
	StatusNoneBad Status = "none-bad"
	// StatusGoodIsBad: the known-good build fails: the break is at or before it.
	StatusGoodIsBad Status = "good-is-bad"
	// StatusInconclusive: a known end stayed inconclusive after its retry.
	StatusInconclusive Status = "inconclusive"
	// StatusInfrastructure: a cell could not run, twice; StatusInterrupted: a signal.
	StatusInfrastructure Status = "infrastructure"
	StatusInterrupted    Status = "interrupted"
)

// SearchInput configures Search.
type SearchInput struct {
	// Builds are the names of the ordered builds, oldest first.
	Builds []string
	// Good and Bad are the indexes of the known-good and known-bad builds (Good < Bad).
	Good, Bad int
	// TrustGood and TrustBad skip the verification cell of that end.
	TrustGood, TrustBad bool
	Step                StepFunc
}

// Answer is what a search established.
type Answer struct {
	Status Status `json:"status"`
	// LastGood and FirstBad are build indexes (-1 when unknown): for
	// StatusFound adjacent, for StatusRange the narrowed ends.
	LastGood int `json:"lastGood"`
	FirstBad int `json:"firstBad"`
	// Skipped are the builds left out after an inconclusive retry.
	Skipped []int `json:"skipped,omitempty"`
	// Candidates are the builds the first bad one is among (StatusRange).
	Candidates []int  `json:"candidates,omitempty"`
	Steps      []Step `json:"steps"`
	// Sentence says the answer in words, naming builds.
	Sentence string `json:"sentence"`
}

// Cells is the number of cells the search ran, retries included.
func (a Answer) Cells() int { return len(a.Steps) }

// HalvingSteps is the most halving cells a range of builds good..bad needs
// without skips: ⌈log2(bad − good)⌉ (the builds strictly between are the unknowns).
func HalvingSteps(good, bad int) int {
	n := bad - good
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1))
}

// WorstCaseCells is the most cells a search of these ends runs without
// retries: the verifications plus HalvingSteps; each inconclusive step adds
// one retry cell.
func WorstCaseCells(good, bad int, trustGood, trustBad bool) int {
	n := HalvingSteps(good, bad)
	if !trustGood {
		n++
	}
	if !trustBad {
		n++
	}
	return n
}

// outcome is what a step's verdict means to the search.
type outcome int

const (
	outGood outcome = iota
	outBad
	outUnknown // inconclusive
	outInfra   // could not run
	outStopped // interrupted
)

func outcomeOf(s Step) outcome {
	switch {
	case s.Interrupted != "":
		return outStopped
	case s.Error != "":
		return outInfra
	case s.Verdict == verdict.Pass:
		return outGood
	case s.Verdict == verdict.Fail:
		return outBad
	}
	return outUnknown
}

// Search bisects in.Builds. A step that is inconclusive (or could not run)
// is retried once; an inconclusive one is then skipped like git bisect skip,
// one that still could not run ends the search (StatusInfrastructure). It
// never names a build as the first bad one unless its predecessor passed.
func Search(ctx context.Context, in SearchInput) Answer {
	a := Answer{LastGood: -1, FirstBad: -1}
	if len(in.Builds) < 2 || in.Good < 0 || in.Bad >= len(in.Builds) || in.Good >= in.Bad || in.Step == nil {
		a.Status = StatusInconclusive
		a.Sentence = fmt.Sprintf("nothing to bisect: want a known-good build before a known-bad one among %d builds", len(in.Builds))
		return a
	}
	name := func(i int) string { return in.Builds[i] }
	// run runs build i, retrying once when it could not tell.
	run := func(i int, role string) outcome {
		var o outcome
		for attempt := 1; attempt <= 2; attempt++ {
			if ctx.Err() != nil {
				return outStopped
			}
			s := in.Step(ctx, i, attempt)
			s.Index, s.Build, s.Attempt, s.Role = i, name(i), attempt, role
			a.Steps = append(a.Steps, s)
			if o = outcomeOf(s); o != outUnknown && o != outInfra {
				return o
			}
		}
		return o
	}
	stop := func(o outcome, what string) bool {
		switch o {
		case outStopped:
			a.Status, a.Sentence = StatusInterrupted, "interrupted while "+what+": no answer"
		case outInfra:
			a.Status, a.Sentence = StatusInfrastructure, "the cell could not run, twice, while "+what+": no answer"
		default:
			return false
		}
		return true
	}

	good, bad := in.Good, in.Bad
	if !in.TrustGood {
		o := run(good, "verify good")
		if stop(o, "verifying the known-good build "+name(good)) {
			return a
		}
		switch o {
		case outBad:
			a.Status, a.FirstBad = StatusGoodIsBad, good
			a.Sentence = fmt.Sprintf("the known-good build %s fails: the break is at or before it (bisect from an earlier good build)", name(good))
			return a
		case outUnknown:
			a.Status = StatusInconclusive
			a.Sentence = fmt.Sprintf("the known-good build %s stayed inconclusive after a retry: the harness cannot tell where the range starts", name(good))
			return a
		}
	}
	if !in.TrustBad {
		o := run(bad, "verify bad")
		if stop(o, "verifying the known-bad build "+name(bad)) {
			return a
		}
		switch o {
		case outGood:
			a.Status, a.LastGood = StatusNoneBad, bad
			a.Sentence = fmt.Sprintf("the known-bad build %s passes: no bad build to find", name(bad))
			return a
		case outUnknown:
			a.Status = StatusInconclusive
			a.Sentence = fmt.Sprintf("the known-bad build %s stayed inconclusive after a retry: the harness cannot tell whether it is bad", name(bad))
			return a
		}
	}
	skipped := map[int]bool{}
	for {
		mid := middle(good, bad, skipped)
		if mid < 0 {
			break
		}
		o := run(mid, "halve")
		if stop(o, "testing build "+name(mid)) {
			a.LastGood, a.FirstBad = good, bad
			return a
		}
		switch o {
		case outGood:
			good = mid
		case outBad:
			bad = mid
		default:
			skipped[mid] = true
			a.Skipped = append(a.Skipped, mid)
		}
	}
	a.LastGood, a.FirstBad = good, bad
	if bad == good+1 {
		a.Status = StatusFound
		a.Sentence = fmt.Sprintf("first bad build: %s (last good build: %s)", name(bad), name(good))
		return a
	}
	// Every build between was skipped: the first bad one is among them or bad itself.
	a.Status = StatusRange
	var names []string
	for i := good + 1; i <= bad; i++ {
		a.Candidates = append(a.Candidates, i)
		names = append(names, name(i))
	}
	were := "was"
	if len(names) > 2 {
		were = "were"
	}
	a.Sentence = fmt.Sprintf("the first bad build is one of %s: %s %s inconclusive twice and skipped, so the range could not be narrowed; the last good build is %s",
		joinNames(names), joinNames(names[:len(names)-1]), were, name(good))
	return a
}

// middle is the untested, unskipped build nearest the middle of good..bad
// (-1 when none is left), as git bisect picks one next to a skipped build.
func middle(good, bad int, skipped map[int]bool) int {
	mid := good + (bad-good)/2
	for d := 0; d < bad-good; d++ {
		for _, i := range []int{mid - d, mid + d} {
			if i > good && i < bad && !skipped[i] {
				return i
			}
		}
	}
	return -1
}

func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	out := names[0]
	for _, n := range names[1 : len(names)-1] {
		out += ", " + n
	}
	return out + " and " + names[len(names)-1]
}
