// Package upgrade is the domain of one upgrade test: a Cell (upgrade from one
// release to another in some order, with image overrides, labels and what it
// is expected to show) and the Order its components are upgraded in. Catalogs
// produce cells, the cell runner runs them, reports print them; nobody converts
// between look-alike types.
package upgrade

import (
	"slices"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Cell is one from→to upgrade of a matrix and how it is run.
type Cell struct {
	// Catalog names the catalog the cell comes from.
	Catalog string `json:"catalog"`
	From    string `json:"from"`
	To      string `json:"to"`
	Order   Order  `json:"order"`
	// Rollback goes back to From in place after the upgrade.
	Rollback bool `json:"rollback,omitempty"`
	// Overrides replaces images of the To release (PR gating); unset fields keep
	// the release's images.
	Overrides platform.Images     `json:"overrides,omitzero"`
	Labels    []string            `json:"labels,omitempty"`
	Expect    verdict.Expectation `json:"expected"`
	// Fault names the seeded fault the cell exercises (faults catalog); such
	// cells count in the harness's score.
	Fault string `json:"fault,omitempty"`
	// Source is "cells" for an explicit cell, the generate strategy that made
	// it, or "ad-hoc"; Line is where it is written in the catalog file.
	Source string `json:"source,omitempty"`
	Line   int    `json:"line,omitempty"`
}

// Name is the stable, file-system-safe name of the cell, e.g. "v0.2.0-v0.2.2",
// "v0.2.0-v0.2.2-operator-runner" or, rolled back, "v0.2.0-v0.2.2-v0.2.0".
func (c Cell) Name() string {
	n := c.From + "-" + c.To
	if !c.Order.IsDefault() {
		n += "-" + sanitize(c.Order.Text)
	}
	if c.Rollback {
		n += "-" + c.From
	}
	return n
}

// HasLabel reports whether the cell carries label l.
func (c Cell) HasLabel(l string) bool { return slices.Contains(c.Labels, l) }

// Upgrades reports whether the cell's order upgrades component c (state-sync
// moves with the runner).
func (c Cell) Upgrades(comp platform.Component) bool {
	if comp == platform.StateSync {
		comp = platform.Runner
	}
	return c.Order.Upgrades(comp)
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
