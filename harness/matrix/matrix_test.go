package matrix

import (
	"errors"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

func TestDecideExit(t *testing.T) {
	ok := verdict.CellResult{Matched: true}
	bad := verdict.CellResult{Matched: false}
	infra := verdict.CellResult{Error: "cluster gone"}
	cases := []struct {
		name    string
		results []verdict.CellResult
		err     error
		want    int
	}{
		{"all matched", []verdict.CellResult{ok, ok}, nil, exitcode.OK},
		{"a mismatch is a regression", []verdict.CellResult{ok, bad}, nil, exitcode.Regression},
		{"a regression wins over infrastructure", []verdict.CellResult{infra, bad}, nil, exitcode.Regression},
		{"a cell that could not run", []verdict.CellResult{ok, infra}, nil, exitcode.Infrastructure},
		{"interrupted", []verdict.CellResult{ok}, errors.New("context canceled"), exitcode.Infrastructure},
	}
	for _, c := range cases {
		if got := decideExit(c.results, c.err); got != c.want {
			t.Errorf("%s: got %d want %d", c.name, got, c.want)
		}
	}
}

func TestParseKeep(t *testing.T) {
	for _, s := range []string{"on-failure", "always", "never"} {
		if _, err := ParseKeep(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseKeep("sometimes"); err == nil {
		t.Error("want an error naming the valid values")
	}
}

func TestSelectCellsErrorsAreBadInput(t *testing.T) {
	_, _, err := selectCells(Input{Catalog: "nope", CatalogDir: "../../fixtures/releases"})
	if exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("unknown catalog: want exit 2, got %v", err)
	}
	_, _, err = selectCells(Input{Catalog: "simulated", CatalogDir: "../../fixtures/releases", Order: "sideways"})
	if exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("bad order: want exit 2, got %v", err)
	}
	_, cells, err := selectCells(Input{Catalog: "simulated", CatalogDir: "../../fixtures/releases", Order: "backend-first"})
	if err == nil || exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("an order without one from/to and no such cell: want bad input, got %v (%d cells)", err, len(cells))
	}
}
