package verdict

import (
	"fmt"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// familyCoverage evaluates an eachFamily clause: per phase of its selector that
// the ledger has, every call family must have an entry of the selector reaching
// a runner. It returns one evidence entry per covered family and the names of
// those not exercised.
func familyCoverage(c Clause, entries []entry) (evidence []ledger.Observation, missing []string) {
	phases := c.Match.Phase
	if len(phases) == 0 {
		for _, p := range ledger.Phases {
			phases = append(phases, string(p))
		}
	}
	for _, ph := range phases {
		if !hasPhase(entries, ledger.Phase(ph)) {
			continue
		}
		for _, f := range platform.CallFamilies {
			if required, _ := familyRequired(entries, f, ledger.Phase(ph)); !required {
				continue
			}
			// A refused spec change left its operator family unexercised in
			// this phase, whatever another session's change showed.
			if route, ok := specChangeRefused(entries, f, ledger.Phase(ph)); ok {
				missing = append(missing, fmt.Sprintf("%s (%s: %s refused)", f, ph, route))
				continue
			}
			if o, ok := reached(c.Match, entries, f, ledger.Phase(ph)); ok {
				evidence = append(evidence, o)
			} else {
				missing = append(missing, fmt.Sprintf("%s (%s)", f, ph))
			}
		}
	}
	return evidence, missing
}

// specChangeRefused reports whether f is the operator family of a spec change
// the backend refused in phase p (ledger.SignalSpecChangeRefused), with its route.
func specChangeRefused(entries []entry, f platform.CallFamily, p ledger.Phase) (string, bool) {
	for _, sc := range platform.SpecChanges {
		if f != sc.Operator {
			continue
		}
		for _, e := range entries {
			if e.obs.Signal == ledger.SignalSpecChangeRefused && e.obs.Path == sc.Route && e.obs.Phase == p {
				return sc.Route, true
			}
		}
	}
	return "", false
}

func hasPhase(entries []entry, p ledger.Phase) bool {
	for _, e := range entries {
		if e.obs.Phase == p {
			return true
		}
	}
	return false
}

// familyRequired says whether family f must reach a runner in phase p: every
// family the traffic drives always; a spec change's backend call once the cell
// made that API call in p (the backend calls the runner itself, any answer);
// its operator call once the backend accepted the change (2xx), or once the
// backend refused it for good (ledger.SignalSpecChangeRefused: then it is
// required and not exercised).
func familyRequired(entries []entry, f platform.CallFamily, p ledger.Phase) (bool, string) {
	for _, sc := range platform.SpecChanges {
		var byBackend, byOperator bool
		switch f {
		case sc.Backend:
			byBackend = true
		case sc.Operator:
			byOperator = true
		default:
			continue
		}
		for _, e := range entries {
			o := e.obs
			if byOperator && o.Signal == ledger.SignalSpecChangeRefused && o.Path == sc.Route && o.Phase == p {
				return true, sc.Route
			}
			if o.Signal != ledger.SignalAPI || o.Path != sc.Route || o.Phase != p {
				continue
			}
			if byBackend && o.Status != 0 || byOperator && o.Status/100 == 2 {
				return true, sc.Route
			}
		}
		return false, sc.Route
	}
	return true, ""
}

// reached finds an access line (any status) of family f in phase p that also
// matches sel's other fields.
func reached(sel Selector, entries []entry, f platform.CallFamily, p ledger.Phase) (ledger.Observation, bool) {
	for _, e := range entries {
		o := e.obs
		if o.Signal != ledger.SignalRunnerAccess && o.Signal != ledger.SignalRunner401 {
			continue
		}
		if o.Phase != p || string(o.Caller) != string(f.Caller) || o.Method != f.Method || platform.PathFamily(o.Path) != f.Path {
			continue
		}
		s := sel
		s.Phase, s.Signal = nil, nil
		if s.matches(e) {
			return o, true
		}
	}
	return ledger.Observation{}, false
}
