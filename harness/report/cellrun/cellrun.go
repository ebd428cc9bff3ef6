// Package cellrun holds what a driver (the matrix, bisect) adds to a cell's
// result after cell.Run has returned: which run of a repeated cell it was,
// the one command that reproduces it, where its failure bundle went and which
// cluster it kept. The cell decides its verdict, diagnosis and match once;
// nothing here changes them, and nobody writes into a cell.Result later.
//
// It is a package of its own, under report, because every report and the
// HTML page read it while the matrix (which imports report) writes it.
package cellrun

import "github.com/ambient-e2e/upgrade-harness/harness/cell"

// Report is one run of one cell as the reports show it: the cell's own
// result and what the driver that ran it added.
type Report struct {
	cell.Result
	// Run numbers the runs of a cell the matrix repeats (1…N; 0 when run once).
	Run int `json:"run,omitempty"`
	// Repro is the one command that reproduces this cell.
	Repro string `json:"repro,omitempty"`
	// BundleDir is where the failure bundle was written, relative to $ARTIFACTS.
	BundleDir string `json:"bundleDir,omitempty"`
	// KeptCluster names the kind cluster and kubectl context kept for inspection.
	KeptCluster string `json:"keptCluster,omitempty"`
}
