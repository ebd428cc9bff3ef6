// Package report writes what a run found for its three audiences — a nightly
// matrix, a PR gate and a developer at a laptop: JUnit XML for CI, a Markdown
// summary for humans (and GitHub's step summary), and results.json with every
// cell's full ledger. Everything written goes through a redact.Redactor.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/report/redact"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// File names inside the artifacts directory.
const (
	JUnitFile   = "junit.xml"
	SummaryFile = "summary.md"
	ResultsFile = "results.json"
	// CellsDir holds one failure bundle per cell: CellsDir/<cell.Name()>.
	CellsDir = "cells"
)

// DefaultArtifactsDir is used when neither WriteInput.Dir nor $ARTIFACTS is set
// (the kubetest2 / cluster-api convention).
const DefaultArtifactsDir = "_artifacts"

// ResultsSchema versions results.json.
const ResultsSchema = "upgrade-harness.results/v1"

// ArtifactsDir returns $ARTIFACTS, or DefaultArtifactsDir when it is unset.
func ArtifactsDir(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if dir := getenv("ARTIFACTS"); dir != "" {
		return dir
	}
	return DefaultArtifactsDir
}

// BundleDir is the failure bundle directory of a cell, relative to the
// artifacts directory (what CellResult.BundleDir holds).
func BundleDir(c verdict.Cell) string { return filepath.ToSlash(filepath.Join(CellsDir, c.Name())) }

// WriteInput is what WriteAll needs.
type WriteInput struct {
	// Dir is the artifacts directory; ArtifactsDir(Getenv) when empty.
	Dir     string
	Results []verdict.CellResult
	// Getenv looks up ARTIFACTS and GITHUB_STEP_SUMMARY; os.Getenv when nil.
	Getenv func(string) string
	// Redactor scrubs every string written; nil applies the token patterns only.
	Redactor *redact.Redactor
	// MaxEvidence caps evidence lines per rule in summary.md; DefaultMaxEvidence when 0.
	MaxEvidence int
}

// ResultsDocument is the shape of results.json.
type ResultsDocument struct {
	Schema  string               `json:"schema"`
	Results []verdict.CellResult `json:"results"`
}

// WriteAll writes junit.xml, summary.md and results.json into the artifacts
// directory and appends the summary to $GITHUB_STEP_SUMMARY when it is set.
// It writes each file whole (temp file and rename), so a reader never sees a
// half-written report.
func WriteAll(in WriteInput) error {
	getenv := in.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	dir := in.Dir
	if dir == "" {
		dir = ArtifactsDir(getenv)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create artifacts dir %s (from WriteInput.Dir or $ARTIFACTS): %w", dir, err)
	}
	results := RedactResults(in.Results, in.Redactor)

	junit, err := RenderJUnit(results)
	if err != nil {
		return err
	}
	summary := RenderMarkdown(results, in.MaxEvidence)
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false) // keep "<redacted:…>" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(ResultsDocument{Schema: ResultsSchema, Results: results}); err != nil {
		return fmt.Errorf("render %s: %w", ResultsFile, err)
	}

	// Fields are redacted above; this last pass catches known values in
	// anything else (cell names, overrides) without touching format escapes.
	for _, f := range []struct {
		name string
		data []byte
	}{{JUnitFile, junit}, {SummaryFile, summary}, {ResultsFile, js.Bytes()}} {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), []byte(in.Redactor.RedactKnown(string(f.data)))); err != nil {
			return err
		}
	}
	if path := getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := appendFile(path, []byte(in.Redactor.RedactKnown(string(summary)))); err != nil {
			return fmt.Errorf("append summary to $GITHUB_STEP_SUMMARY=%s: %w", path, err)
		}
	}
	return nil
}

// RedactResults returns a deep copy of results with every free-text field
// passed through r. Cell identity fields are kept as they are.
func RedactResults(results []verdict.CellResult, r *redact.Redactor) []verdict.CellResult {
	out := make([]verdict.CellResult, len(results))
	for i, res := range results {
		res.Expected.Why = r.Redact(res.Expected.Why)
		res.Error = r.Redact(res.Error)
		res.Repro = r.RedactKnown(res.Repro) // header patterns would mangle shell quoting
		res.BundleDir = r.Redact(res.BundleDir)
		res.KeptCluster = r.Redact(res.KeptCluster)
		rules := make([]verdict.RuleResult, len(res.Rules))
		for j, rr := range res.Rules {
			rr.Reason = r.Redact(rr.Reason)
			rr.Description = r.Redact(rr.Description)
			rr.Evidence = RedactObservations(rr.Evidence, r)
			rules[j] = rr
		}
		res.Rules = rules
		res.Unauthorized = append([]verdict.Count401(nil), res.Unauthorized...)
		res.Ledger = RedactObservations(res.Ledger, r)
		if res.Ledger == nil {
			res.Ledger = []ledger.Observation{} // "ledger": [] rather than null
		}
		out[i] = res
	}
	return out
}

// RedactObservations returns a copy of obs with its free-text fields redacted.
func RedactObservations(obs []ledger.Observation, r *redact.Redactor) []ledger.Observation {
	if obs == nil {
		return nil
	}
	out := make([]ledger.Observation, len(obs))
	for i, o := range obs {
		o.Detail = r.Redact(o.Detail)
		o.Source = r.Redact(o.Source)
		o.Path = r.Redact(o.Path)
		o.CallerPod = r.Redact(o.CallerPod)
		out[i] = o
	}
	return out
}

// WriteFileAtomic writes data to path through a temp file in the same directory.
func WriteFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create dir for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
