package catalog

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Cell is one expanded matrix cell: a from→to upgrade, how it is run and what
// it is expected to show.
type Cell struct {
	Catalog string
	From    string
	To      string
	Order   Order
	Expect  verdict.Verdict
	// ExpectRules pins individual rules (rule name → verdict).
	ExpectRules map[string]verdict.Verdict
	Why         string
	Labels      []string
	// Source is "cells" for an explicit cell or the generate strategy that made it.
	Source string
	// Line is where the cell or its generator is written in the catalog file.
	Line int
	// Overrides replaces images of the To release (see ApplyOverrides).
	Overrides map[Component]string
}

// VerdictCell converts the cell to the identity used by verdicts and reports.
func (c Cell) VerdictCell() verdict.Cell {
	vc := verdict.Cell{
		Catalog: c.Catalog,
		From:    c.From,
		To:      c.To,
		Order:   c.Order.Text,
		Labels:  append([]string(nil), c.Labels...),
	}
	if len(c.Overrides) > 0 {
		vc.Overrides = map[string]string{}
		for k, img := range c.Overrides {
			vc.Overrides[string(k)] = img
		}
	}
	return vc
}

// Expectation converts the cell's expected outcome for the verdict package.
func (c Cell) Expectation() verdict.Expectation {
	e := verdict.Expectation{Verdict: c.Expect, Why: c.Why}
	if len(c.ExpectRules) > 0 {
		e.Rules = make(map[string]verdict.Verdict, len(c.ExpectRules))
		for k, val := range c.ExpectRules {
			e.Rules[k] = val
		}
	}
	return e
}

// Name is the stable file-system-safe name, e.g. "v0.2.0-v0.2.2-operator-runner".
func (c Cell) Name() string { return c.VerdictCell().Name() }

// HasLabel reports whether the cell carries label l.
func (c Cell) HasLabel(l string) bool { return contains(c.Labels, l) }

// Filter selects cells. Empty fields select everything; within a field any
// listed value matches; all set fields must match.
type Filter struct {
	From   []string
	To     []string
	Labels []string
	// Name is a path.Match glob on Cell.Name(), e.g. "v0.2.0-*".
	Name string
}

// Cells expands the matrix (explicit cells first, then generated ones that do
// not repeat an explicit from/to/order) and returns those the filter selects.
// A filter naming an unknown release or label is bad input: in CI it would
// otherwise silently select nothing.
func (c *Catalog) Cells(f Filter) ([]Cell, error) {
	all, err := c.allCells()
	if err != nil {
		return nil, err
	}
	if err := c.checkFilter(f, all); err != nil {
		return nil, exitcode.BadInputErr(err)
	}
	var out []Cell
	for _, cell := range all {
		if f.matches(cell) {
			out = append(out, cell)
		}
	}
	return out, nil
}

func (c *Catalog) checkFilter(f Filter, all []Cell) error {
	var problems []string
	for _, side := range []struct {
		name   string
		values []string
	}{{"from", f.From}, {"to", f.To}} {
		for _, v := range side.values {
			if _, ok := c.Release(v); !ok {
				problems = append(problems, fmt.Sprintf("filter %s: %q is not a release of catalog %s (want one of %s)", side.name, v, c.Name, validVersionsText(c)))
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
			problems = append(problems, fmt.Sprintf("filter label: %q is on no cell of catalog %s (want one of %s)", l, c.Name, strings.Join(sortedKeys(used), ", ")))
		}
	}
	if f.Name != "" {
		if _, err := path.Match(f.Name, ""); err != nil {
			problems = append(problems, fmt.Sprintf("filter name: %q is not a valid glob (want path.Match syntax such as v0.2.0-*)", f.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

func (f Filter) matches(c Cell) bool {
	if len(f.From) > 0 && !contains(f.From, c.From) {
		return false
	}
	if len(f.To) > 0 && !contains(f.To, c.To) {
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

func (c *Catalog) defaultOrder() (Order, error) {
	if c.Matrix.DefaultOrder == "" {
		return ParseOrder(OrderAllAtOnce)
	}
	return ParseOrder(c.Matrix.DefaultOrder)
}

func (c *Catalog) orderOrDefault(s string) (Order, error) {
	if s == "" {
		return c.defaultOrder()
	}
	return ParseOrder(s)
}

func (c *Catalog) allCells() ([]Cell, error) {
	var out []Cell
	seen := map[string]bool{}
	add := func(cell Cell) {
		k := cell.From + "\x00" + cell.To + "\x00" + cell.Order.Text
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
			return nil, exitcode.BadInputErr(fmt.Errorf("%s:%d: %s.order: %w", c.File, c.lineOf(field), field, err))
		}
		add(Cell{
			Catalog: c.Name, From: cs.From, To: cs.To, Order: o,
			Expect: verdict.Verdict(cs.Expect), ExpectRules: toVerdicts(cs.ExpectRules),
			Why: cs.Why, Labels: append([]string(nil), cs.Labels...),
			Source: "cells", Line: c.lineOf(field),
		})
	}
	versions := c.Versions()
	for i, g := range c.Matrix.Generate {
		field := fmt.Sprintf("matrix.generate[%d]", i)
		o, err := c.orderOrDefault(g.Order)
		if err != nil {
			return nil, exitcode.BadInputErr(fmt.Errorf("%s:%d: %s.order: %w", c.File, c.lineOf(field), field, err))
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
			return nil, exitcode.BadInputErr(fmt.Errorf("%s:%d: %s.strategy: %q is not a generate strategy (want %s)",
				c.File, c.lineOf(field+".strategy"), field, g.Strategy, strings.Join(GenerateStrategies, " or ")))
		}
		for _, p := range pairs {
			add(Cell{
				Catalog: c.Name, From: p[0], To: p[1], Order: o,
				Expect: verdict.Verdict(g.Expect), ExpectRules: toVerdicts(g.ExpectRules),
				Why: g.Why, Labels: append([]string(nil), g.Labels...),
				Source: g.Strategy, Line: c.lineOf(field),
			})
		}
	}
	return out, nil
}

func toVerdicts(m map[string]string) map[string]verdict.Verdict {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]verdict.Verdict, len(m))
	for k, v := range m {
		out[k] = verdict.Verdict(v)
	}
	return out
}

// ReleaseImages returns the images of the cell's from release and of its to
// release with the cell's overrides applied.
func (c *Catalog) ReleaseImages(cell Cell) (from, to Images, err error) {
	fr, ok := c.Release(cell.From)
	if !ok {
		return Images{}, Images{}, exitcode.BadInputErr(fmt.Errorf("cell %s: from %q is not a release of catalog %s (want one of %s)", cell.Name(), cell.From, c.Name, validVersionsText(c)))
	}
	tr, ok := c.Release(cell.To)
	if !ok {
		return Images{}, Images{}, exitcode.BadInputErr(fmt.Errorf("cell %s: to %q is not a release of catalog %s (want one of %s)", cell.Name(), cell.To, c.Name, validVersionsText(c)))
	}
	to = tr.Images
	for comp, img := range cell.Overrides {
		to.set(comp, img)
	}
	return fr.Images, to, nil
}

// ImagesFor lists every image a cell may deploy (both releases, overrides
// applied), deduplicated, for preloading into the cluster.
func (c *Catalog) ImagesFor(cell Cell) ([]string, error) {
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

// ApplyOverrides returns a copy of cell whose to release uses the given images
// (PR gating). Every reference must be valid and pinned, and every component
// must be one the cell's order upgrades, or the override would never deploy.
// StateSync moves with Runner.
func ApplyOverrides(cell Cell, overrides map[Component]string) (Cell, error) {
	var problems []string
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	merged := map[Component]string{}
	for k, img := range cell.Overrides {
		merged[k] = img
	}
	for _, k := range keys {
		comp := Component(k)
		img := overrides[comp]
		step := comp
		if comp == StateSync {
			step = Runner
		}
		switch {
		case !containsComponent(ImageComponents, comp):
			problems = append(problems, fmt.Sprintf("override %q: unknown component (want operator, backend, runner or stateSync)", k))
			continue
		case !cell.Order.Upgrades(step):
			problems = append(problems, fmt.Sprintf("override %s: order %q never upgrades %s, so the image would not be deployed (want an order that upgrades it)", k, cell.Order.Text, step))
			continue
		}
		if msg := checkPinnedImage(img); msg != "" {
			problems = append(problems, fmt.Sprintf("override %s: %s", k, msg))
			continue
		}
		merged[comp] = img
	}
	if len(problems) > 0 {
		return Cell{}, exitcode.BadInputErr(fmt.Errorf("cell %s: %s", cell.Name(), strings.Join(problems, "; ")))
	}
	out := cell
	out.Overrides = merged
	return out, nil
}

// ParseOverrides parses "component=image,..." as given on a command line.
func ParseOverrides(s string) (map[Component]string, error) {
	out := map[Component]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, img, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || img == "" {
			return nil, exitcode.BadInputErr(fmt.Errorf("override %q is not component=image (want e.g. operator=localhost/pr/vteam_operator:pr-1)", part))
		}
		if _, dup := out[Component(k)]; dup {
			return nil, exitcode.BadInputErr(fmt.Errorf("override for %s is given twice (want each component once)", k))
		}
		out[Component(k)] = img
	}
	return out, nil
}

func containsComponent(list []Component, c Component) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}
