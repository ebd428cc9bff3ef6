// Package verdict turns a cell's ledger into pass, fail or inconclusive by
// evaluating rules that are data (see rules.go), never a guess.
package verdict

import (
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// Verdict is the outcome of a rule or a whole cell.
type Verdict string

const (
	Pass         Verdict = "pass"
	Fail         Verdict = "fail"
	Inconclusive Verdict = "inconclusive"
)

// RuleResult is one rule's outcome with the ledger entries that decided it.
type RuleResult struct {
	Rule        string  `json:"rule"`
	Description string  `json:"description"`
	Verdict     Verdict `json:"verdict"`
	// Reason says in one sentence why (which entries broke it, or what was missing).
	Reason   string               `json:"reason"`
	Evidence []ledger.Observation `json:"evidence,omitempty"`
}

// Cell identifies one from→to upgrade of the matrix and how it is run.
type Cell struct {
	Catalog string `json:"catalog"`
	From    string `json:"from"`
	To      string `json:"to"`
	// Order is the upgrade strategy: "all-at-once", "operator-first", "backend-first",
	// "runner-only", or an explicit component list such as "operator,runner".
	Order string `json:"order"`
	// Overrides replaces images of the To release: component -> image reference.
	Overrides map[string]string `json:"overrides,omitempty"`
	// NodeImage is the kind node image the cell ran on ("" for an existing cluster).
	NodeImage string   `json:"nodeImage,omitempty"`
	Labels    []string `json:"labels,omitempty"`
}

// Name is the stable, file-system-safe name of the cell, e.g. "v0.2.0-v0.2.2" or
// "v0.2.0-v0.2.2-operator-first".
func (c Cell) Name() string {
	n := c.From + "-" + c.To
	if c.Order != "" && c.Order != "all-at-once" {
		n += "-" + sanitize(c.Order)
	}
	return n
}

func sanitize(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// Expectation is what the catalog's matrix says a cell should show.
type Expectation struct {
	Verdict Verdict `json:"verdict"`
	// Why is the human reason, e.g. "fail: upstream #1425".
	Why string `json:"why,omitempty"`
	// Rules optionally pins the expected verdict of individual rules
	// (e.g. {"restarted-session-runs": "fail"} for contract §3.5 item 7).
	Rules map[string]Verdict `json:"rules,omitempty"`
}

// Count401 is the number of runner 401s for one caller and path.
type Count401 struct {
	Caller ledger.Caller `json:"caller"`
	Path   string        `json:"path"`
	Count  int           `json:"count"`
}

// CellResult is everything reports need about one cell.
type CellResult struct {
	Cell         Cell          `json:"cell"`
	Expected     Expectation   `json:"expected"`
	Verdict      Verdict       `json:"verdict"`
	Rules        []RuleResult  `json:"rules"`
	Unauthorized []Count401    `json:"unauthorized"`
	Started      time.Time     `json:"started"`
	Duration     time.Duration `json:"duration"`
	// UpgradeStarted splits logs and the ledger into before/after.
	UpgradeStarted time.Time `json:"upgradeStarted"`
	// Matched is true when Verdict (and every pinned rule) equals the expectation.
	Matched bool `json:"matched"`
	// Error is set when the cell could not run (infrastructure), with Verdict inconclusive.
	Error string `json:"error,omitempty"`
	// Repro is the one command that reproduces this cell.
	Repro string `json:"repro,omitempty"`
	// BundleDir is where the failure bundle was written, relative to $ARTIFACTS.
	BundleDir string `json:"bundleDir,omitempty"`
	// KeptCluster names the kind cluster and kubectl context kept for inspection.
	KeptCluster string               `json:"keptCluster,omitempty"`
	Ledger      []ledger.Observation `json:"ledger"`
}
