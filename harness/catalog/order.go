package catalog

import (
	"fmt"
	"strings"
)

// Component is a part of the platform that an upgrade step rolls.
type Component string

const (
	Operator Component = "operator"
	Backend  Component = "backend"
	// Runner also carries the state-sync image: both reach runner pods through the
	// operator's agent registry pin (contract §3.4), so they move together.
	Runner Component = "runner"
	// StateSync is only an image slot (ImagesFor, overrides); it is not an upgrade step.
	StateSync Component = "stateSync"
)

// UpgradeComponents are the components an Order may name, in canonical order.
var UpgradeComponents = []Component{Operator, Backend, Runner}

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
type Step []Component

// Order is a parsed upgrade order: its canonical text and its ordered steps.
type Order struct {
	Text  string
	Steps []Step
}

func (o Order) String() string { return o.Text }

// Upgrades reports whether any step upgrades c; a component no step names stays
// on the from release for the whole cell.
func (o Order) Upgrades(c Component) bool {
	for _, s := range o.Steps {
		for _, sc := range s {
			if sc == c {
				return true
			}
		}
	}
	return false
}

// validOrdersText describes what ParseOrder accepts, for error messages.
const validOrdersText = "all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner"

// ParseOrder parses a named order or an explicit comma list such as
// "operator,runner" (upgrade exactly these, one step each, in this order).
func ParseOrder(s string) (Order, error) {
	text := strings.TrimSpace(s)
	switch text {
	case OrderAllAtOnce:
		return Order{Text: text, Steps: []Step{{Operator, Backend, Runner}}}, nil
	case OrderOperatorFirst:
		return Order{Text: text, Steps: []Step{{Operator}, {Backend, Runner}}}, nil
	case OrderBackendFirst:
		return Order{Text: text, Steps: []Step{{Backend}, {Operator, Runner}}}, nil
	case OrderRunnerOnly:
		return Order{Text: text, Steps: []Step{{Runner}}}, nil
	case "":
		return Order{}, fmt.Errorf("order is empty (want %s)", validOrdersText)
	}
	seen := map[Component]bool{}
	var steps []Step
	var names []string
	for _, raw := range strings.Split(text, ",") {
		name := strings.TrimSpace(raw)
		c := Component(name)
		if !isUpgradeComponent(c) {
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

func isUpgradeComponent(c Component) bool {
	for _, k := range UpgradeComponents {
		if k == c {
			return true
		}
	}
	return false
}
