package catalog

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Filter selects cells. Empty fields select everything; within a field any
// listed value matches; all set fields must match. Its errors name the
// command-line flag of each field (-from, -to, -labels, -cell).
type Filter struct {
	From   []string
	To     []string
	Labels []string
	// Rollback, when set, keeps only rollback cells (true) or only plain ones (false).
	Rollback *bool
	// Name is a path.Match glob on Cell.Name(), e.g. "v0.2.0-*".
	Name string
}

// Cells expands the matrix (explicit cells first, then generated ones that do
// not repeat an explicit from/to/order) and returns those the filter selects.
// With a candidate (AddCandidate) its cells replace the matrix.
// A filter naming an unknown release or label is bad input: in CI it would
// otherwise silently select nothing.
func (c *Catalog) Cells(f Filter) ([]upgrade.Cell, error) {
	all, err := c.allCells()
	if err != nil {
		return nil, err
	}
	if err := c.checkFilter(f, all); err != nil {
		return nil, fault.BadInputErr(err)
	}
	var out []upgrade.Cell
	for _, cell := range all {
		if f.matches(cell) {
			out = append(out, cell)
		}
	}
	return out, nil
}

func (c *Catalog) checkFilter(f Filter, all []upgrade.Cell) error {
	var problems []string
	for _, side := range []struct {
		name   string
		values []string
	}{{"-from", f.From}, {"-to", f.To}} {
		for _, v := range side.values {
			if _, ok := c.Release(v); !ok {
				problems = append(problems, fmt.Sprintf("%s %q: not a release of catalog %s (want one of %s)", side.name, v, c.Name, validVersionsText(c)))
			}
		}
	}
	used := map[string]bool{}
	for _, cell := range all {
		for _, l := range cell.Labels {
			used[l] = true
		}
	}
	for _, l := range f.Labels {
		if !used[l] {
			problems = append(problems, fmt.Sprintf("-labels %q: on no cell of catalog %s (want one of %s)", l, c.Name, strings.Join(slices.Sorted(maps.Keys(used)), ", ")))
		}
	}
	if f.Name != "" {
		if _, err := path.Match(f.Name, ""); err != nil {
			problems = append(problems, fmt.Sprintf("-cell %q: not a valid glob (want path.Match syntax such as v0.2.0-*)", f.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

func (f Filter) matches(c upgrade.Cell) bool {
	if len(f.From) > 0 && !contains(f.From, c.From) {
		return false
	}
	if len(f.To) > 0 && !contains(f.To, c.To) {
		return false
	}
	if f.Rollback != nil && *f.Rollback != c.Rollback {
		return false
	}
	if len(f.Labels) > 0 {
		hit := false
		for _, l := range f.Labels {
			hit = hit || c.HasLabel(l)
		}
		if !hit {
			return false
		}
	}
	if f.Name != "" {
		if ok, _ := path.Match(f.Name, c.Name()); !ok {
			return false
		}
	}
	return true
}

func (c *Catalog) defaultOrder() (upgrade.Order, error) {
	if c.Matrix.DefaultOrder == "" {
		return upgrade.ParseOrder(upgrade.OrderAllAtOnce)
	}
	return upgrade.ParseOrder(c.Matrix.DefaultOrder)
}

func (c *Catalog) orderOrDefault(s string) (upgrade.Order, error) {
	if s == "" {
		return c.defaultOrder()
	}
	return upgrade.ParseOrder(s)
}

func (c *Catalog) allCells() ([]upgrade.Cell, error) {
	if c.Candidate != nil {
		return c.candidateCells, nil
	}
	var out []upgrade.Cell
	seen := map[string]bool{}
	add := func(cell upgrade.Cell) {
		k := cell.Name()
		if seen[k] {
			return
		}
		seen[k] = true
		out = append(out, cell)
	}
	for i, cs := range c.Matrix.Cells {
		field := fmt.Sprintf("matrix.cells[%d]", i)
		o, err := c.orderOrDefault(cs.Order)
		if err != nil {
			return nil, fault.BadInputErr(fmt.Errorf("%s:%d: %s.order: %w", c.File, c.lineOf(field), field, err))
		}
		e := expectation(cs.Expect, cs.Why, cs.ExpectRules, cs.Expect401, cs.ExpectNo401)
		e.Working = c.workingOr(cs.Working)
		for _, d := range cs.ExpectDiagnosis {
			e.Diagnoses = append(e.Diagnoses, d.diagnosis())
		}
		add(upgrade.Cell{
			Catalog: c.Name, From: cs.From, To: cs.To, Order: o, Rollback: cs.Rollback, Fault: cs.Fault,
			Expect: e,
			Labels: append([]string(nil), cs.Labels...),
			Source: "cells", Line: c.lineOf(field),
		})
	}
	versions := c.Versions()
	for i, g := range c.Matrix.Generate {
		field := fmt.Sprintf("matrix.generate[%d]", i)
		o, err := c.orderOrDefault(g.Order)
		if err != nil {
			return nil, fault.BadInputErr(fmt.Errorf("%s:%d: %s.order: %w", c.File, c.lineOf(field), field, err))
		}
		var pairs [][2]string
		switch g.Strategy {
		case GenerateEveryToNewest:
			for _, v := range versions[:max(len(versions)-1, 0)] {
				pairs = append(pairs, [2]string{v, versions[len(versions)-1]})
			}
		case GenerateEachToNext:
			for j := 0; j+1 < len(versions); j++ {
				pairs = append(pairs, [2]string{versions[j], versions[j+1]})
			}
		default:
			return nil, fault.BadInputErr(fmt.Errorf("%s:%d: %s.strategy: %q is not a generate strategy (want %s)",
				c.File, c.lineOf(field+".strategy"), field, g.Strategy, strings.Join(GenerateStrategies, " or ")))
		}
		e := expectation(g.Expect, g.Why, g.ExpectRules, g.Expect401, g.ExpectNo401)
		e.Working = c.workingOr(g.Working)
		for _, p := range pairs {
			add(upgrade.Cell{
				Catalog: c.Name, From: p[0], To: p[1], Order: o,
				Expect: e,
				Labels: append([]string(nil), g.Labels...),
				Source: g.Strategy, Line: c.lineOf(field),
			})
		}
	}
	return out, nil
}

// expectation builds a cell's expectation from its catalog fields.
func expectation(expect, why string, rules map[string]string, unauthorized, authorized []Attribution) verdict.Expectation {
	e := verdict.Expectation{Verdict: verdict.Verdict(expect), Why: why}
	if len(rules) > 0 {
		e.Rules = make(map[string]verdict.Verdict, len(rules))
		for k, v := range rules {
			e.Rules[k] = verdict.Verdict(v)
		}
	}
	for _, a := range unauthorized {
		e.Unauthorized = append(e.Unauthorized, a.attribution())
	}
	for _, a := range authorized {
		e.Authorized = append(e.Authorized, a.attribution())
	}
	return e
}

// ReleaseImages returns the images of the cell's from release and of its to
// release with the cell's overrides applied.
func (c *Catalog) ReleaseImages(cell upgrade.Cell) (from, to platform.Images, err error) {
	fr, ok := c.Release(cell.From)
	if !ok {
		return platform.Images{}, platform.Images{}, fault.BadInputErr(fmt.Errorf("cell %s: from %q is not a release of catalog %s (want one of %s)", cell.Name(), cell.From, c.Name, validVersionsText(c)))
	}
	tr, ok := c.Release(cell.To)
	if !ok {
		return platform.Images{}, platform.Images{}, fault.BadInputErr(fmt.Errorf("cell %s: to %q is not a release of catalog %s (want one of %s)", cell.Name(), cell.To, c.Name, validVersionsText(c)))
	}
	return fr.Images, tr.Images.With(cell.Overrides), nil
}

// ImagesFor lists every image a cell may deploy (both releases, overrides
// applied), deduplicated, for preloading into the cluster.
func (c *Catalog) ImagesFor(cell upgrade.Cell) ([]string, error) {
	from, to, err := c.ReleaseImages(cell)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, img := range append(from.List(), to.List()...) {
		if !seen[img] {
			seen[img] = true
			out = append(out, img)
		}
	}
	return out, nil
}

// ApplyOverrides returns a copy of cell whose to release uses the images set
// in overrides (PR gating). Every reference must be valid and pinned, and every
// component must be one the cell's order upgrades, or the override would never
// deploy. StateSync moves with Runner.
func ApplyOverrides(cell upgrade.Cell, overrides platform.Images) (upgrade.Cell, error) {
	var problems []string
	merged := cell.Overrides
	for _, comp := range overrides.Components() {
		img := overrides.Get(comp)
		if !cell.Upgrades(comp) {
			step := comp
			if comp == platform.StateSync {
				step = platform.Runner
			}
			problems = append(problems, fmt.Sprintf("override %s: order %q never upgrades %s, so the image would not be deployed (want an order that upgrades it)", comp, cell.Order.Text, step))
			continue
		}
		if msg := checkPinnedImage(img); msg != "" {
			problems = append(problems, fmt.Sprintf("override %s: %s", comp, msg))
			continue
		}
		merged.Set(comp, img)
	}
	if len(problems) > 0 {
		return upgrade.Cell{}, fault.BadInputErr(fmt.Errorf("cell %s: %s", cell.Name(), strings.Join(problems, "; ")))
	}
	out := cell
	out.Overrides = merged
	return out, nil
}

// ParseOverrides parses "component=image,..." as given on a command line.
func ParseOverrides(s string) (platform.Images, error) {
	var out platform.Images
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, img, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || img == "" {
			return platform.Images{}, fault.BadInputErr(fmt.Errorf("override %q is not component=image (want e.g. operator=localhost/pr/vteam_operator:pr-1)", part))
		}
		comp, err := platform.ParseComponent(k)
		if err != nil {
			return platform.Images{}, fault.BadInputErr(fmt.Errorf("override %q: %v", part, err))
		}
		if out.Get(comp) != "" {
			return platform.Images{}, fault.BadInputErr(fmt.Errorf("override for %s is given twice (want each component once)", k))
		}
		out.Set(comp, img)
	}
	return out, nil
}
