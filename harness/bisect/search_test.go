package bisect

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// fakeBuilds is a step runner over builds whose verdicts are given: the
// search sees only what a cell would show.
type fakeBuilds struct {
	verdicts []verdict.Verdict
	// flaky builds are inconclusive on their first attempt only.
	flaky map[int]bool
	// broken builds could not run (infrastructure).
	broken map[int]bool
	ran    []int
}

func (f *fakeBuilds) step(_ context.Context, i, attempt int) Step {
	f.ran = append(f.ran, i)
	switch {
	case f.broken[i]:
		return Step{Verdict: verdict.Inconclusive, Error: "cluster gone"}
	case f.flaky[i] && attempt == 1:
		return Step{Verdict: verdict.Inconclusive}
	}
	return Step{Verdict: f.verdicts[i]}
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("b%d", i+1)
	}
	return out
}

// seeded is n builds, good up to k-1 (0-based), bad from k on.
func seeded(n, k int) []verdict.Verdict {
	out := make([]verdict.Verdict, n)
	for i := range out {
		out[i] = verdict.Pass
		if i >= k {
			out[i] = verdict.Fail
		}
	}
	return out
}

// TestSearchFindsTheSeededBuildWithinTheBound: for every list length up to
// 33 and every position of the first bad build, the search names it, in at
// most ⌈log2 N⌉ + 2 cells (the two verifications included).
func TestSearchFindsTheSeededBuildWithinTheBound(t *testing.T) {
	for n := 2; n <= 33; n++ {
		for k := 1; k < n; k++ {
			f := &fakeBuilds{verdicts: seeded(n, k)}
			a := Search(context.Background(), SearchInput{Builds: names(n), Good: 0, Bad: n - 1, Step: f.step})
			if a.Status != StatusFound || a.FirstBad != k || a.LastGood != k-1 {
				t.Fatalf("n=%d k=%d: %s first bad %d last good %d (%s), want found %d", n, k, a.Status, a.FirstBad, a.LastGood, a.Sentence, k)
			}
			if bound := HalvingSteps(0, n-1) + 2; a.Cells() > bound || bound > ceilLog2(n)+2 {
				t.Fatalf("n=%d k=%d: %d cells, bound %d, ⌈log2 N⌉+2 = %d", n, k, a.Cells(), bound, ceilLog2(n)+2)
			}
			if want := fmt.Sprintf("first bad build: b%d (last good build: b%d)", k+1, k); a.Sentence != want {
				t.Fatalf("sentence %q, want %q", a.Sentence, want)
			}
		}
	}
}

func ceilLog2(n int) int {
	c := 0
	for 1<<c < n {
		c++
	}
	return c
}

// TestSearchFiveReleases is the simulated catalog's case: v0.2.1 passes,
// v0.2.2 on fail; 4 cells (2 verifications, 2 halvings).
func TestSearchFiveReleases(t *testing.T) {
	builds := []string{"v0.2.1", "v0.2.2", "v0.2.3", "v0.2.6", "v0.2.7"}
	f := &fakeBuilds{verdicts: seeded(5, 1)}
	a := Search(context.Background(), SearchInput{Builds: builds, Good: 0, Bad: 4, Step: f.step})
	if a.Status != StatusFound || builds[a.FirstBad] != "v0.2.2" || a.Cells() != 4 {
		t.Fatalf("%s %d cells: %s", a.Status, a.Cells(), a.Sentence)
	}
	if !slices.Equal(f.ran, []int{0, 4, 2, 1}) {
		t.Errorf("ran builds %v, want verify good, verify bad, then v0.2.3 and v0.2.2", f.ran)
	}
	if a.Steps[0].Role != "verify good" || a.Steps[1].Role != "verify bad" || a.Steps[2].Role != "halve" {
		t.Errorf("roles %q %q %q", a.Steps[0].Role, a.Steps[1].Role, a.Steps[2].Role)
	}
}

// TestSearchTrustedEndsRunNoVerification: trusted ends cost no cell.
func TestSearchTrustedEndsRunNoVerification(t *testing.T) {
	f := &fakeBuilds{verdicts: seeded(9, 6)}
	a := Search(context.Background(), SearchInput{Builds: names(9), Good: 0, Bad: 8, TrustGood: true, TrustBad: true, Step: f.step})
	if a.Status != StatusFound || a.FirstBad != 6 || slices.Contains(f.ran, 0) || slices.Contains(f.ran, 8) || a.Cells() > 3 {
		t.Fatalf("%s first bad %d, ran %v", a.Status, a.FirstBad, f.ran)
	}
}

// TestSearchRetriesAnInconclusiveStepOnce: a step inconclusive once and then
// decided costs one extra cell and changes nothing else.
func TestSearchRetriesAnInconclusiveStepOnce(t *testing.T) {
	f := &fakeBuilds{verdicts: seeded(5, 1), flaky: map[int]bool{2: true}}
	a := Search(context.Background(), SearchInput{Builds: names(5), Good: 0, Bad: 4, Step: f.step})
	if a.Status != StatusFound || a.FirstBad != 1 || a.Cells() != 5 || len(a.Skipped) != 0 {
		t.Fatalf("%s first bad %d, %d cells, skipped %v", a.Status, a.FirstBad, a.Cells(), a.Skipped)
	}
	if a.Steps[2].Attempt != 1 || a.Steps[3].Attempt != 2 || a.Steps[3].Index != 2 {
		t.Errorf("want build 3 run twice: %+v", a.Steps)
	}
}

// TestSearchSkipsAndNamesTheRangeNeverAWrongCulprit: builds that stay
// inconclusive are skipped; when they hide the boundary the answer is the
// range, and a build is named first bad only when its predecessor passed.
func TestSearchSkipsAndNamesTheRangeNeverAWrongCulprit(t *testing.T) {
	inconclusive := verdict.Inconclusive
	for _, tc := range []struct {
		name       string
		verdicts   []verdict.Verdict
		status     Status
		firstBad   int
		candidates []int
		sentence   string
	}{
		{
			// b3 inconclusive, the first bad is b4: the search goes round it.
			name:     "skip away from the boundary",
			verdicts: []verdict.Verdict{verdict.Pass, verdict.Pass, inconclusive, verdict.Fail, verdict.Fail},
			status:   StatusRange, firstBad: 3, candidates: []int{2, 3},
			sentence: "the first bad build is one of b3 and b4: b3 was inconclusive twice and skipped, so the range could not be narrowed; the last good build is b2",
		},
		{
			name:     "skip next to a decided boundary",
			verdicts: []verdict.Verdict{verdict.Pass, verdict.Pass, verdict.Pass, inconclusive, verdict.Fail, verdict.Fail, verdict.Fail},
			status:   StatusRange, firstBad: 4, candidates: []int{3, 4},
		},
		{
			name:     "skipped build not at the boundary",
			verdicts: []verdict.Verdict{verdict.Pass, verdict.Fail, inconclusive, verdict.Fail, verdict.Fail},
			status:   StatusFound, firstBad: 1,
		},
		{
			name:     "two skipped builds",
			verdicts: []verdict.Verdict{verdict.Pass, inconclusive, inconclusive, verdict.Fail},
			status:   StatusRange, firstBad: 3, candidates: []int{1, 2, 3},
			sentence: "the first bad build is one of b2, b3 and b4: b2 and b3 were inconclusive twice and skipped, so the range could not be narrowed; the last good build is b1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBuilds{verdicts: tc.verdicts}
			a := Search(context.Background(), SearchInput{Builds: names(len(tc.verdicts)), Good: 0, Bad: len(tc.verdicts) - 1, Step: f.step})
			if a.Status != tc.status || a.FirstBad != tc.firstBad || !slices.Equal(a.Candidates, tc.candidates) {
				t.Fatalf("%s first bad %d candidates %v (%s); want %s %d %v", a.Status, a.FirstBad, a.Candidates, a.Sentence, tc.status, tc.firstBad, tc.candidates)
			}
			if tc.sentence != "" && a.Sentence != tc.sentence {
				t.Errorf("sentence %q\nwant     %q", a.Sentence, tc.sentence)
			}
			if a.Status == StatusFound && tc.verdicts[a.FirstBad-1] != verdict.Pass {
				t.Errorf("named %d first bad though its predecessor did not pass", a.FirstBad)
			}
			for _, s := range a.Skipped {
				if n := count(f.ran, s); n != 2 {
					t.Errorf("skipped build %d ran %d times, want 2 (one retry)", s, n)
				}
			}
		})
	}
}

func count(xs []int, x int) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// TestSearchEnds: the ends decide before any halving.
func TestSearchEnds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		verdicts []verdict.Verdict
		broken   map[int]bool
		status   Status
		cells    int
	}{
		{"known good fails", []verdict.Verdict{verdict.Fail, verdict.Fail, verdict.Fail}, nil, StatusGoodIsBad, 1},
		{"known bad passes", []verdict.Verdict{verdict.Pass, verdict.Pass, verdict.Pass}, nil, StatusNoneBad, 2},
		{"known bad inconclusive", []verdict.Verdict{verdict.Pass, verdict.Fail, verdict.Inconclusive}, nil, StatusInconclusive, 3},
		{"known good inconclusive", []verdict.Verdict{verdict.Inconclusive, verdict.Fail, verdict.Fail}, nil, StatusInconclusive, 2},
		{"cluster broken", []verdict.Verdict{verdict.Pass, verdict.Fail, verdict.Fail}, map[int]bool{2: true}, StatusInfrastructure, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBuilds{verdicts: tc.verdicts, broken: tc.broken}
			a := Search(context.Background(), SearchInput{Builds: names(3), Good: 0, Bad: 2, Step: f.step})
			if a.Status != tc.status || a.Cells() != tc.cells {
				t.Fatalf("%s after %d cells (%s), want %s after %d", a.Status, a.Cells(), a.Sentence, tc.status, tc.cells)
			}
			if a.Status != StatusGoodIsBad && a.FirstBad >= 0 && a.Status != StatusFound {
				t.Errorf("named first bad %d on %s", a.FirstBad, a.Status)
			}
		})
	}
}

// TestSearchInterrupted: a cancelled context stops before the next cell.
func TestSearchInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeBuilds{verdicts: seeded(8, 5)}
	step := func(ctx context.Context, i, attempt int) Step {
		s := f.step(ctx, i, attempt)
		if len(f.ran) == 3 {
			cancel()
		}
		return s
	}
	a := Search(ctx, SearchInput{Builds: names(8), Good: 0, Bad: 7, Step: step})
	if a.Status != StatusInterrupted || a.Cells() != 3 {
		t.Fatalf("%s after %d cells", a.Status, a.Cells())
	}
}

func TestWorstCaseCells(t *testing.T) {
	for _, tc := range []struct{ good, bad, want int }{{0, 4, 4}, {0, 1, 2}, {0, 7, 5}, {0, 8, 5}, {0, 31, 7}} {
		if got := WorstCaseCells(tc.good, tc.bad, false, false); got != tc.want {
			t.Errorf("WorstCaseCells(%d, %d) = %d, want %d", tc.good, tc.bad, got, tc.want)
		}
	}
}
