package diagnose

import (
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/fixtures/platform/release"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// simulate is what the behaviour table says a combination answers (contract
// §3.5 item 8): the runner checks a token when its release has the middleware
// and its operator wrote AGUI_TOKEN; a caller that sends none gets 401;
// otherwise GET /events is gone from v0.2.2 runners.
func simulate(t *testing.T, op, be, ru string) Combination {
	t.Helper()
	look := func(v string) release.Behavior {
		b, err := release.Lookup(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	o, b, r := look(op), look(be), look(ru)
	comb := Combination{Operator: op, Backend: be, Runner: ru}
	websocket := map[string]bool{"/": true, "/events": true, "/interrupt": true, "/capabilities": true, "/feedback": true, "/mcp/status": true}
	for _, f := range platform.CallFamilies {
		sends := o.OperatorSendsToken
		if f.Caller == platform.Backend {
			sends = b.BackendHandlersSendToken
			if websocket[f.Path] {
				sends = b.BackendWebsocketSendsToken
			}
		}
		status := 200
		switch {
		case r.RunnerAuth && o.OperatorWritesAGUIToken && !sends:
			status = 401
		case f.Path == "/events" && r.RunnerThreadEvents:
			status = 404
		}
		comb.Results = append(comb.Results, NewFamilyResult(f, map[int]int{status: 2}))
	}
	return comb
}

func sweepOf(t *testing.T, a, b string) Compat {
	c := Compat{From: a, To: b}
	for _, op := range []string{a, b} {
		for _, be := range []string{a, b} {
			for _, ru := range []string{a, b} {
				c.Combinations = append(c.Combinations, simulate(t, op, be, ru))
			}
		}
	}
	return c
}

func TestCulpritsOfTheRegression(t *testing.T) {
	c := sweepOf(t, "v0.2.0", "v0.2.2")
	want := "runner v0.2.2 started by operator v0.2.2 rejects backend v0.2.0 on every call family, " +
		"backend v0.2.2 on POST /, GET /events, POST /interrupt, GET /capabilities, POST /feedback and GET /mcp/status, " +
		"and operator v0.2.2 on POST /workflow and POST /repos/*; " +
		"runner v0.2.2 started by operator v0.2.0 answers 404 to backend v0.2.0 and v0.2.2 on GET /events; every other pair works"
	if got := c.Culprits(); got != want {
		t.Errorf("Culprits:\n got  %s\n want %s", got, want)
	}
}

func TestCulpritsWhenOnlyTheOperatorBreaks(t *testing.T) {
	c := sweepOf(t, "v0.2.3", "v0.2.6")
	// Both operators write AGUI_TOKEN and send no header; both backends send it.
	want := "runner v0.2.3 rejects operator v0.2.3 and v0.2.6 on POST /workflow and POST /repos/*; " +
		"runner v0.2.6 rejects operator v0.2.3 and v0.2.6 on POST /workflow and POST /repos/*; " +
		"runner v0.2.3 answers 404 to backend v0.2.3 and v0.2.6 on GET /events; runner v0.2.6 answers 404 to backend v0.2.3 and v0.2.6 on GET /events; every other pair works"
	if got := c.Culprits(); got != want {
		t.Errorf("Culprits:\n got  %s\n want %s", got, want)
	}
	if got := (Compat{From: "v0.2.7", To: "v0.2.7", Combinations: []Combination{{Operator: "v0.2.7", Backend: "v0.2.7", Runner: "v0.2.7",
		Results: []FamilyResult{NewFamilyResult(platform.BackendRun, map[int]int{200: 1})}}}}).Culprits(); got != "not exercised against runner v0.2.7: backend v0.2.7 on GET /events, POST /interrupt, GET /capabilities, POST /feedback, GET /mcp/status, GET /content/list, GET /repos/status, POST /workflow and POST /repos/*, and operator v0.2.7 on POST /workflow and POST /repos/*; every other pair works" {
		t.Errorf("missing families must be named: %s", got)
	}
}

func TestTableOfTheRegression(t *testing.T) {
	c := sweepOf(t, "v0.2.0", "v0.2.2")
	tab := c.Table()
	if strings.Join(tab.Columns, ",") != "runner v0.2.0,runner v0.2.2" || len(tab.Rows) != 2*11+2*3 {
		t.Fatalf("table %v with %d rows", tab.Columns, len(tab.Rows))
	}
	find := func(caller platform.Component, v, path string) TableRow {
		for _, r := range tab.Rows {
			if r.Caller == caller && r.CallerVersion == v && r.Path == path {
				return r
			}
		}
		t.Fatalf("no row %s %s %s", caller, v, path)
		return TableRow{}
	}
	for _, tc := range []struct {
		caller  platform.Component
		version string
		path    string
		want    [2]string
	}{
		{platform.Backend, "v0.2.0", "/", [2]string{"ok", "ok with operator v0.2.0, 401 with operator v0.2.2"}},
		{platform.Backend, "v0.2.0", "/content/list", [2]string{"ok", "ok with operator v0.2.0, 401 with operator v0.2.2"}},
		{platform.Backend, "v0.2.2", "/content/list", [2]string{"ok", "ok"}},
		{platform.Backend, "v0.2.2", "/events", [2]string{"ok", "404 with operator v0.2.0, 401 with operator v0.2.2"}},
		{platform.Operator, "v0.2.2", "/workflow", [2]string{"ok", "401"}},
		{platform.Operator, "v0.2.0", "/workflow", [2]string{"ok", "ok"}},
	} {
		r := find(tc.caller, tc.version, tc.path)
		if got := [2]string{r.Cells[0].Text(), r.Cells[1].Text()}; got != tc.want {
			t.Errorf("%s %s %s: %q, want %q", tc.caller, tc.version, tc.path, got, tc.want)
		}
	}
	if w := find(platform.Backend, "v0.2.2", "/events").Cells[1].Worst(); w != Outcome401 {
		t.Errorf("worst = %s", w)
	}
}

func TestFamilyResultOutcomes(t *testing.T) {
	for _, tc := range []struct {
		statuses map[int]int
		want     Outcome
		label    string
	}{
		{nil, OutcomeNotExercised, "not exercised"},
		{map[int]int{200: 3}, OutcomeOK, "ok"},
		{map[int]int{200: 3, 401: 1}, Outcome401, "401"},
		{map[int]int{404: 2, 200: 1}, OutcomeOther, "404"},
		{map[int]int{404: 2, 422: 1}, OutcomeOther, "404/422"},
	} {
		r := NewFamilyResult(platform.BackendEvents, tc.statuses)
		if r.Outcome != tc.want || r.Label() != tc.label {
			t.Errorf("%v: %s %q, want %s %q", tc.statuses, r.Outcome, r.Label(), tc.want, tc.label)
		}
	}
}
