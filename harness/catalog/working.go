package catalog

import (
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// WorkingLevel is the catalog's working level: its working:, else
// verdict.DefaultWorkingLevel. Validate has checked the value.
func (c *Catalog) WorkingLevel() verdict.WorkingLevel {
	return verdict.WorkingLevel(c.Working).Or(verdict.DefaultWorkingLevel)
}

// workingOr is a cell's level: its own when it names one, else the catalog's.
func (c *Catalog) workingOr(cell string) verdict.WorkingLevel {
	return verdict.WorkingLevel(cell).Or(c.WorkingLevel())
}

// ApplyWorking gives every cell its working level: override (the command
// line's -working) when set, which wins over the catalog's; else the level
// the cell already has; else (a candidate's or an ad hoc cell) the catalog's.
// It returns a new slice.
func (c *Catalog) ApplyWorking(cells []upgrade.Cell, override verdict.WorkingLevel) []upgrade.Cell {
	out := make([]upgrade.Cell, len(cells))
	for i, cell := range cells {
		cell.Expect.Working = override.Or(cell.Expect.Working).Or(c.WorkingLevel())
		out[i] = cell
	}
	return out
}
