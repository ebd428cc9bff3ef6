package upgrade

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// Named upgrade orders.
const (
	OrderAllAtOnce     = "all-at-once"
	OrderOperatorFirst = "operator-first"
	OrderBackendFirst  = "backend-first"
	OrderRunnerOnly    = "runner-only"
)

// NamedOrders lists the named orders, for error messages and docs.
var NamedOrders = []string{OrderAllAtOnce, OrderOperatorFirst, OrderBackendFirst, OrderRunnerOnly}

// Step is the set of components upgraded together.
type Step []platform.Component

// Order is a parsed upgrade order: its canonical text and its ordered steps.
type Order struct {
	Text  string
	Steps []Step
}

func (o Order) String() string { return o.Text }

// Upgrades reports whether any step upgrades c; a component no step names stays
// on the from release for the whole cell.
func (o Order) Upgrades(c platform.Component) bool {
	for _, s := range o.Steps {
		if slices.Contains(s, c) {
			return true
		}
	}
	return false
}

// MarshalText writes the order as its canonical text (reports, results.json).
func (o Order) MarshalText() ([]byte, error) { return []byte(o.Text), nil }

// UnmarshalText parses an order written by MarshalText.
func (o *Order) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*o = Order{}
		return nil
	}
	p, err := ParseOrder(string(b))
	if err != nil {
		return err
	}
	*o = p
	return nil
}

// IsDefault reports whether the order is all-at-once (or unset), which cell
// names and repro lines leave out.
func (o Order) IsDefault() bool { return o.Text == "" || o.Text == OrderAllAtOnce }

// validOrdersText describes what ParseOrder accepts, for error messages.
const validOrdersText = "all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner"

// ParseOrder parses a named order or an explicit comma list such as
// "operator,runner" (upgrade exactly these, one step each, in this order).
func ParseOrder(s string) (Order, error) {
	text := strings.TrimSpace(s)
	switch text {
	case OrderAllAtOnce:
		return Order{Text: text, Steps: []Step{{platform.Operator, platform.Backend, platform.Runner}}}, nil
	case OrderOperatorFirst:
		return Order{Text: text, Steps: []Step{{platform.Operator}, {platform.Backend, platform.Runner}}}, nil
	case OrderBackendFirst:
		return Order{Text: text, Steps: []Step{{platform.Backend}, {platform.Operator, platform.Runner}}}, nil
	case OrderRunnerOnly:
		return Order{Text: text, Steps: []Step{{platform.Runner}}}, nil
	case "":
		return Order{}, fmt.Errorf("order is empty (want %s)", validOrdersText)
	}
	seen := map[platform.Component]bool{}
	var steps []Step
	var names []string
	for _, raw := range strings.Split(text, ",") {
		name := strings.TrimSpace(raw)
		c := platform.Component(name)
		if !slices.Contains(platform.UpgradeComponents, c) {
			return Order{}, fmt.Errorf("%q is not a valid order: unknown component %q (want %s)", s, name, validOrdersText)
		}
		if seen[c] {
			return Order{}, fmt.Errorf("%q is not a valid order: component %q is listed twice (want each of operator, backend, runner at most once)", s, name)
		}
		seen[c] = true
		steps = append(steps, Step{c})
		names = append(names, name)
	}
	return Order{Text: strings.Join(names, ","), Steps: steps}, nil
}
