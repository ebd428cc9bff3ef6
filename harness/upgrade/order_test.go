package upgrade

import (
	"reflect"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

func TestParseOrder(t *testing.T) {
	tests := []struct {
		in       string
		wantText string
		want     []Step
		wantErr  string
	}{
		{in: "all-at-once", wantText: "all-at-once", want: []Step{{platform.Operator, platform.Backend, platform.Runner}}},
		{in: "operator-first", wantText: "operator-first", want: []Step{{platform.Operator}, {platform.Backend, platform.Runner}}},
		{in: "backend-first", wantText: "backend-first", want: []Step{{platform.Backend}, {platform.Operator, platform.Runner}}},
		{in: "runner-only", wantText: "runner-only", want: []Step{{platform.Runner}}},
		{in: "operator,runner", wantText: "operator,runner", want: []Step{{platform.Operator}, {platform.Runner}}},
		{in: " runner , backend,operator ", wantText: "runner,backend,operator", want: []Step{{platform.Runner}, {platform.Backend}, {platform.Operator}}},
		{in: "backend", wantText: "backend", want: []Step{{platform.Backend}}},
		{in: "", wantErr: `order is empty (want all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner)`},
		{in: "sideways", wantErr: `"sideways" is not a valid order: unknown component "sideways" (want all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner)`},
		{in: "operator,frontend", wantErr: `"operator,frontend" is not a valid order: unknown component "frontend" (want all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner)`},
		{in: "operator,,runner", wantErr: `"operator,,runner" is not a valid order: unknown component "" (want all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner)`},
		{in: "runner,runner", wantErr: `"runner,runner" is not a valid order: component "runner" is listed twice (want each of operator, backend, runner at most once)`},
		{in: "stateSync", wantErr: `"stateSync" is not a valid order: unknown component "stateSync" (want all-at-once, operator-first, backend-first, runner-only, or a comma list of operator, backend, runner)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOrder(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseOrder(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOrder(%q): %v", tt.in, err)
			}
			if got.Text != tt.wantText || !reflect.DeepEqual(got.Steps, tt.want) {
				t.Fatalf("ParseOrder(%q) = %q %v, want %q %v", tt.in, got.Text, got.Steps, tt.wantText, tt.want)
			}
		})
	}
}

func TestOrderUpgrades(t *testing.T) {
	o, err := ParseOrder("operator,runner")
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range map[platform.Component]bool{platform.Operator: true, platform.Runner: true, platform.Backend: false} {
		if got := o.Upgrades(c); got != want {
			t.Errorf("Upgrades(%s) = %v, want %v", c, got, want)
		}
	}
}
