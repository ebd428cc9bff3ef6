package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
)

func init() {
	register("cells", "print the selected cells of a catalog as JSON (CI expands them into jobs); -latest prints the newest release", runCells)
}

// cellJob is one matrix job of the nightly workflow.
type cellJob struct {
	Name   string   `json:"name"`
	From   string   `json:"from"`
	To     string   `json:"to"`
	Order  string   `json:"order"`
	Expect string   `json:"expect"`
	Labels []string `json:"labels,omitempty"`
}

func runCells(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cells", flag.ContinueOnError)
	cf := addCellFlags(fs)
	latest := fs.Bool("latest", false, "print the newest release of the catalog instead (takes no cell filter)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if set := cf.anySelection(); *latest && len(set) > 0 {
		return exitcode.BadInputErr(fmt.Errorf("-latest prints the catalog's newest release and takes no cell selection (got %s; want -latest with -catalog only, or no -latest)", strings.Join(set, " ")))
	}
	in, err := cf.input()
	if err != nil {
		return err
	}
	plan, err := matrix.Select(in)
	if err != nil {
		return err
	}
	if *latest {
		vs := plan.Catalog.Versions()
		fmt.Println(vs[len(vs)-1])
		return nil
	}
	jobs := make([]cellJob, 0, len(plan.Cells))
	for _, cl := range plan.Cells {
		jobs = append(jobs, cellJob{Name: cl.Name(), From: cl.From, To: cl.To, Order: cl.Order.Text, Expect: string(cl.Expect.Verdict), Labels: cl.Labels})
	}
	return json.NewEncoder(os.Stdout).Encode(jobs)
}
