package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
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
	cat := fs.String("catalog", "simulated", "catalog name in -catalog-dir, or a catalog file")
	catDir := fs.String("catalog-dir", "fixtures/releases", "directory of catalog files")
	labels := fs.String("labels", "", "only cells with one of these labels (comma list)")
	latest := fs.Bool("latest", false, "print the newest release of the catalog instead")
	if err := badFlags(fs.Parse(args)); err != nil {
		return err
	}
	c, err := catalog.Open(*cat, *catDir)
	if err != nil {
		return err
	}
	if *latest {
		vs := c.Versions()
		fmt.Println(vs[len(vs)-1])
		return nil
	}
	cells, err := c.Cells(catalog.Filter{Labels: splitList(*labels)})
	if err != nil {
		return err
	}
	jobs := make([]cellJob, 0, len(cells))
	for _, cl := range cells {
		jobs = append(jobs, cellJob{Name: cl.Name(), From: cl.From, To: cl.To, Order: cl.Order.Text, Expect: string(cl.Expect), Labels: cl.Labels})
	}
	return json.NewEncoder(os.Stdout).Encode(jobs)
}
