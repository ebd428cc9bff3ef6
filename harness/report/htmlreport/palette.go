package htmlreport

import "github.com/ambient-e2e/upgrade-harness/harness/ledger"

// swatch is a colour and what it stands for in the legend.
type swatch struct {
	Fill  string
	Label string
}

// MarkKey is what colours a runner 401 mark: its class once the cell is
// judged ("class:from-release" or "class:upgrade"), else the phase it was seen
// in ("phase:after").
func MarkKey(o ledger.Observation) string {
	if o.Class != "" {
		return "class:" + string(o.Class)
	}
	return "phase:" + string(o.Phase)
}

// markColours are the 401 mark colours by MarkKey; unknown keys are grey.
var markColours = map[string]swatch{
	"phase:" + string(ledger.PhaseBefore): {"#1f77b4", "runner 401 before the upgrade"},
	"phase:" + string(ledger.PhaseDuring): {"#ff7f0e", "runner 401 during the upgrade"},
	"phase:" + string(ledger.PhaseAfter):  {"#d62728", "runner 401 after the upgrade"},
	"class:from-release":                  {"#6a3d9a", "runner 401 the from release already had"},
	"class:upgrade":                       {"#d62728", "runner 401 caused by the upgrade"},
}

// bandColours are the backgrounds of the cell's phases; a phase the ledger adds
// later (e.g. "rolled-back") gets its own band, grey until it has a colour here.
var bandColours = map[string]swatch{
	string(ledger.PhaseBefore): {"#eaf2fb", "before the upgrade"},
	string(ledger.PhaseDuring): {"#fdf0dc", "during the upgrade (rollouts)"},
	string(ledger.PhaseAfter):  {"#f4eef8", "after the upgrade"},
	"rolled-back":              {"#fde2e2", "rolled back"},
}

// sessionColours are the spans of a session lane, by the session's phase.
var sessionColours = map[string]swatch{
	"Pending":   {"#c7c7c7", "session Pending"},
	"Creating":  {"#9ecae1", "session Creating"},
	"Running":   {"#41ab5d", "session Running"},
	"Stopping":  {"#fdae6b", "session Stopping"},
	"Stopped":   {"#969696", "session Stopped"},
	"Failed":    {"#a50f15", "session Failed"},
	"Completed": {"#4292c6", "session Completed"},
}

// Component lane spans and the other marks.
var (
	componentFrom    = swatch{"#b0bec5", "component on its from image"}
	componentRollout = swatch{"#ffb74d", "rollout (apply → new pods ready)"}
	componentTo      = swatch{"#7986cb", "component on its to image"}
	platformLog401   = swatch{"#8c2d04", "operator/backend log line about a runner 401"}
	runnerAuth       = swatch{"#238b45", "a runner pod started with token authentication"}
	runError401      = swatch{"#000000", "RUN_ERROR \"Runner error: HTTP 401\" on the session's stream"}
	restartMark      = swatch{"#ffffff", "session restarted (stop, start)"}
	coverageGap      = swatch{"#616161", "a watcher could not cover a stretch (gap)"}
	unknownColour    = swatch{"#9e9e9e", ""}
	// Wire requests (the witness's capture), by the runner's answer.
	wire401      = swatch{"#e6550d", "request on the wire answered 401 (hover: header names, fingerprints)"}
	wireOK       = swatch{"#31a354", "request on the wire answered (hover: header names, fingerprints)"}
	wireNoStatus = swatch{"#9e9e9e", "request on the wire, answer not seen"}
)

func lookup(m map[string]swatch, key string) swatch {
	if s, ok := m[key]; ok {
		return s
	}
	s := unknownColour
	s.Label = key
	return s
}

// MarkColour is the fill of a runner 401 mark with the given MarkKey.
func MarkColour(key string) string { return lookup(markColours, key).Fill }
