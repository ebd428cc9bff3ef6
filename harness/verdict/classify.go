package verdict

import (
	"sort"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// UnknownRelease labels an image no catalog release of the cell names.
const UnknownRelease = "unknown"

// callerFamily keys a baseline outcome: which component called which family.
type callerFamily struct {
	caller ledger.Caller
	family string
}

// Annotate returns a copy of obs ready to be judged: every runner 401 gets its
// Class (see ledger.ClassFromRelease), platform 401 lines learn the runner
// release of their session, and caller-side runner errors that no runner logged
// are added as SignalUnansweredByRunner. from is the cell's from release.
func Annotate(obs []ledger.Observation, from string) []ledger.Observation {
	out := append([]ledger.Observation(nil), obs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	fillRunnerReleases(out)
	fillBackendReleases(out)
	corroborate(out)
	baseline := baselineFailures(out, from)
	for i := range out {
		if out[i].IsUnauthorized() {
			out[i].Class = classify(out[i], from, baseline)
		}
	}
	return append(out, unanswered(out)...)
}

// fillRunnerReleases gives a platform-side entry about a session the runner
// release the session's runner access lines carry at that point. Platform log
// lines may name a session without its namespace; the name alone then finds it.
func fillRunnerReleases(obs []ledger.Observation) {
	latest, byName := map[string]ledger.Observation{}, map[string]ledger.Observation{}
	for i, o := range obs {
		if o.Session == "" {
			continue
		}
		if o.RunnerRelease != "" {
			latest[o.Namespace+"/"+o.Session], byName[o.Session] = o, o
			continue
		}
		l, ok := latest[o.Namespace+"/"+o.Session]
		if !ok && o.Namespace == "" {
			l, ok = byName[o.Session]
		}
		if ok {
			obs[i].RunnerRelease, obs[i].RunnerImage, obs[i].RunnerPod = l.RunnerRelease, l.RunnerImage, l.RunnerPod
		}
	}
}

// corroborateWindow is how far apart a caller's log line about a runner 401
// and the runner's own 401 access line may lie (two pods' log timestamps).
const corroborateWindow = 5 * time.Second

// corroborate gives a caller's 401 log line that names no session (the
// operator's "Runner returned non-200 for workflow change: 401") the runner
// side of the runner's own 401 line it reports: same caller pod and family,
// nearest in time. A line nothing corroborates stays unattributed, and so is
// never excused.
func corroborate(obs []ledger.Observation) {
	for i, o := range obs {
		if !o.IsUnauthorized() || o.Signal == ledger.SignalRunner401 || o.RunnerRelease != "" {
			continue
		}
		fam := platform.PathFamily(o.Path)
		best, bestDist := -1, corroborateWindow+1
		for j, a := range obs {
			if a.Signal != ledger.SignalRunner401 || a.RunnerRelease == "" || a.Caller != o.Caller || platform.PathFamily(a.Path) != fam {
				continue
			}
			if o.CallerPod != "" && a.CallerPod != o.CallerPod {
				continue
			}
			if d := a.Time.Sub(o.Time).Abs(); d <= corroborateWindow && d < bestDist {
				best, bestDist = j, d
			}
		}
		if best >= 0 {
			a := obs[best]
			obs[i].RunnerRelease, obs[i].RunnerImage, obs[i].RunnerPod = a.RunnerRelease, a.RunnerImage, a.RunnerPod
			if obs[i].CallerRelease == "" {
				obs[i].CallerRelease = a.CallerRelease
			}
		}
	}
}

// fillBackendReleases attributes backend entries that name no pod (a RUN_ERROR
// on the event stream) to the release of the backend seen last before them:
// the backend rolls with Recreate, so one backend pod serves at any time.
func fillBackendReleases(obs []ledger.Observation) {
	last := ""
	for i, o := range obs {
		if o.Caller != ledger.CallerBackend {
			continue
		}
		if o.CallerRelease != "" {
			last = o.CallerRelease
		} else if last != "" && o.CallerPod == "" {
			obs[i].CallerRelease = last
		}
	}
}

// baselineFailures are the (caller, family) pairs that got 401s before the
// upgrade with both sides on the from release: the from release's own state.
func baselineFailures(obs []ledger.Observation, from string) map[callerFamily]bool {
	out := map[callerFamily]bool{}
	for _, o := range obs {
		if o.Phase == ledger.PhaseBefore && o.IsUnauthorized() && onRelease(o.CallerRelease, from) && onRelease(o.RunnerRelease, from) {
			out[callerFamily{o.Caller, platform.PathFamily(o.Path)}] = true
		}
	}
	return out
}

// onRelease: before the upgrade only from is installed, so an entry the
// detectors could not attribute ("") counts as from there; classify never
// relies on that outside the baseline.
func onRelease(release, from string) bool { return release == from || release == "" }

func classify(o ledger.Observation, from string, baseline map[callerFamily]bool) ledger.Class {
	if o.Phase == ledger.PhaseBefore {
		if baseline[callerFamily{o.Caller, platform.PathFamily(o.Path)}] {
			return ledger.ClassFromRelease
		}
		return ledger.ClassUpgrade
	}
	// After the upgrade started, both sides must be known to run from: an
	// unattributed entry is never excused.
	if from != "" && o.CallerRelease == from && o.RunnerRelease == from && baseline[callerFamily{o.Caller, platform.PathFamily(o.Path)}] {
		return ledger.ClassFromRelease
	}
	return ledger.ClassUpgrade
}

// unansweredWindow is how far a caller's report of a runner answer may lie
// from the runner's own access line (log timestamps of two pods).
const unansweredWindow = 10 * time.Second

// unanswered finds runner errors a caller reported (status ≥ 400, other than
// 401, which the 401 rules judge) with no runner access line of the same
// session, family and status near it.
func unanswered(obs []ledger.Observation) []ledger.Observation {
	var out []ledger.Observation
	for _, o := range obs {
		// The wire witness's requests are the runner's answers seen on the
		// wire, not a caller's report.
		if o.Signal == ledger.SignalRunnerAccess || o.Signal == ledger.SignalRunner401 || o.Signal == ledger.SignalAPI || o.Signal == ledger.SignalWireRequest ||
			o.Status < 400 || o.Status == 401 || o.Path == "" || o.Session == "" {
			continue
		}
		if o.Caller != ledger.CallerOperator && o.Caller != ledger.CallerBackend {
			continue
		}
		if !answeredByRunner(obs, o) {
			u := o
			u.Signal = ledger.SignalUnansweredByRunner
			u.Source = "verdict:" + o.Source
			u.Class = ""
			out = append(out, u)
		}
	}
	return out
}

func answeredByRunner(obs []ledger.Observation, o ledger.Observation) bool {
	fam := platform.PathFamily(o.Path)
	for _, a := range obs {
		if (a.Signal == ledger.SignalRunnerAccess || a.Signal == ledger.SignalRunner401) && a.Status == o.Status &&
			a.Namespace == o.Namespace && a.Session == o.Session && platform.PathFamily(a.Path) == fam &&
			a.Time.Sub(o.Time).Abs() <= unansweredWindow {
			return true
		}
	}
	return false
}
