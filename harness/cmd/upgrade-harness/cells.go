package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
)

func init() { register(cellsCommand, runCells) }

var cellsCommand = &commandSpec{
	name:    "cells",
	summary: "print the selected cells of a catalog as JSON, one nightly job each; -latest prints the newest release",
	description: `Prints the cells matrix would run with the same selection flags, as a JSON list,
without touching anything. The nightly workflow turns each into a job that runs exactly
that cell: scripts/run-cell.sh -cell NAME (its name is unique in the catalog).`,
	inputs:  "a catalog (-catalog) and the cell selection flags of matrix.",
	outputs: `on stdout a JSON list of {name, from, to, order, rollback, expect, labels}; with -latest the newest release's version.`,
	flags: concat(cellFlagSpecs, []flagSpec{
		{name: "latest", kind: kindBool, def: "false", usage: "print the newest release of the catalog instead (takes no cell selection)"},
	}),
}

// cellJob is one matrix job of the nightly workflow: Name selects exactly
// this cell (matrix -cell NAME).
type cellJob struct {
	Name     string   `json:"name"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	Order    string   `json:"order"`
	Rollback bool     `json:"rollback"`
	Expect   string   `json:"expect"`
	Labels   []string `json:"labels,omitempty"`
}

func runCells(ctx context.Context, args []string) error {
	fv := newFlagValues(cellsCommand, "cells")
	if err := fv.parse(args); err != nil {
		return err
	}
	if set := selectionFlags(fv); fv.boolean("latest") && len(set) > 0 {
		return fault.BadInputErr(fmt.Errorf("-latest prints the catalog's newest release and takes no cell selection (got %s; want -latest with -catalog only, or no -latest)", strings.Join(set, " ")))
	}
	in, err := cellInput(fv)
	if err != nil {
		return err
	}
	plan, err := matrix.Select(in)
	if err == nil {
		err = checkRollbackPlanned(in, plan)
	}
	if err != nil {
		return err
	}
	if fv.boolean("latest") {
		vs := plan.Catalog.Versions()
		fmt.Println(vs[len(vs)-1])
		return nil
	}
	jobs := make([]cellJob, 0, len(plan.Cells))
	for _, cl := range plan.Cells {
		jobs = append(jobs, cellJob{Name: cl.Name(), From: cl.From, To: cl.To, Order: cl.Order.Text, Rollback: cl.Rollback,
			Expect: string(cl.Expect.Verdict), Labels: cl.Labels})
	}
	return json.NewEncoder(os.Stdout).Encode(jobs)
}
