// Package report writes what a run found for its three audiences — a nightly
// matrix, a PR gate and a developer at a laptop: JUnit XML for CI, a Markdown
// summary for humans (and GitHub's step summary), and results.json with every
// cell's full ledger. Everything written goes through a secrets.Redactor.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/chaos"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// File names inside the artifacts directory.
const (
	JUnitFile   = "junit.xml"
	SummaryFile = "summary.md"
	ResultsFile = "results.json"
	// CompatFile holds the compatibility sweeps (diagnose -from A -to B, matrix -diagnose).
	CompatFile = "compat.json"
	// HTMLFile is the self-contained page with the matrix overview and a
	// timeline per cell; every bundle directory gets one with its cell alone.
	HTMLFile = "report.html"
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
// artifacts directory (what cellrun.Report.BundleDir holds); run k > 1 of a
// repeated cell gets its own, <name>/run-<k>.
func BundleDir(c upgrade.Cell, run ...int) string {
	dir := filepath.Join(CellsDir, c.Name())
	if len(run) > 0 && run[0] > 1 {
		dir = filepath.Join(dir, fmt.Sprintf("run-%d", run[0]))
	}
	return filepath.ToSlash(dir)
}

// WriteInput is what WriteAll needs.
type WriteInput struct {
	// Dir is the artifacts directory; ArtifactsDir(Getenv) when empty.
	Dir     string
	Results []cellrun.Report
	// Getenv looks up ARTIFACTS and GITHUB_STEP_SUMMARY; os.Getenv when nil.
	Getenv func(string) string
	// Redactor scrubs every string written; nil applies the token patterns only.
	Redactor *secrets.Redactor
	// MaxEvidence caps evidence lines per rule in summary.md; DefaultMaxEvidence when 0.
	MaxEvidence int
	// Compat are compatibility sweeps (compat.json and a summary section);
	// Score is the seeded faults' score (summary and results.json).
	Compat []diagnose.Compat
	Score  *diagnose.Score
	// Exit is how the run ends, decided by the caller before it writes the
	// reports (the matrix's outcome, and the code the command maps it to);
	// every report's headline states it. nil leaves it out of the headline.
	Exit *Exit
	// JUnitInconclusive is how junit.xml writes an inconclusive rule:
	// "failure" (the default when empty) or "skipped" (-junit-inconclusive).
	JUnitInconclusive JUnitInconclusive
	// Bisect, when set, heads summary.md and report.html and is "bisect" in
	// results.json (the results are its steps' cells).
	Bisect *BisectSection
}

// ResultsDocument is the shape of results.json as Go reads it back. Each
// entry of "results" also carries "title", "outcome" and, for a cell that
// could not run, "infrastructure" (see ResultEntry).
type ResultsDocument struct {
	Schema string `json:"schema"`
	// Summary is the run's overall result: headline, exit code and counts.
	Summary *RunSummary      `json:"summary,omitempty"`
	Results []cellrun.Report `json:"results"`
	// Repeats summarises cells that ran more than once (matrix -repeat).
	Repeats []Repeat `json:"repeats,omitempty"`
	// Score is the seeded faults' score; Compat the compatibility sweeps.
	Score  *diagnose.Score   `json:"score,omitempty"`
	Compat []diagnose.Compat `json:"compat,omitempty"`
}

// ResultEntry is one entry of results.json's "results": the cell's result
// with how every report names and classifies it.
type ResultEntry struct {
	// Title is the cell's name in every report ("v0.2.0 → v0.2.2 → v0.2.0
	// (rollback) [all-at-once]").
	Title   string  `json:"title"`
	Outcome Outcome `json:"outcome"`
	// Infrastructure is set when the cell could not run.
	Infrastructure *InfraFailure `json:"infrastructure,omitempty"`
	cellrun.Report
}

// resultEntry is how WriteAll encodes a ResultEntry: the fields the driver
// adds (run … keptCluster) stay where results.json has always had them,
// between the cell's "interrupted" and "diagnosis". The outer diagnosis,
// faults and ledger hide cell.Result's own (encoding/json takes the
// shallower field), which is what puts them after the driver's fields.
type resultEntry struct {
	Title          string        `json:"title"`
	Outcome        Outcome       `json:"outcome"`
	Infrastructure *InfraFailure `json:"infrastructure,omitempty"`
	cell.Result
	Run         int                  `json:"run,omitempty"`
	Repro       string               `json:"repro,omitempty"`
	BundleDir   string               `json:"bundleDir,omitempty"`
	KeptCluster string               `json:"keptCluster,omitempty"`
	Diagnosis   *diagnose.Findings   `json:"diagnosis,omitempty"`
	Faults      []chaos.Injected     `json:"faults,omitempty"`
	Ledger      []ledger.Observation `json:"ledger"`
}

func newResultEntry(r cellrun.Report) resultEntry {
	return resultEntry{Title: Title(r.Cell), Outcome: OutcomeOf(r), Infrastructure: InfraFailureOf(r), Result: r.Result,
		Run: r.Run, Repro: r.Repro, BundleDir: r.BundleDir, KeptCluster: r.KeptCluster,
		Diagnosis: r.Diagnosis, Faults: r.Faults, Ledger: r.Ledger}
}

// resultsFile is what WriteAll encodes as results.json.
type resultsFile struct {
	Schema  string            `json:"schema"`
	Summary RunSummary        `json:"summary"`
	Results []resultEntry     `json:"results"`
	Repeats []Repeat          `json:"repeats,omitempty"`
	Score   *diagnose.Score   `json:"score,omitempty"`
	Compat  []diagnose.Compat `json:"compat,omitempty"`
	Bisect  *BisectSection    `json:"bisect,omitempty"`
}

// RenderResults renders results.json (results already redacted).
func RenderResults(results []cellrun.Report, exit *Exit, score *diagnose.Score, compat []diagnose.Compat) ([]byte, error) {
	return renderResults(results, exit, score, compat, nil)
}

func renderResults(results []cellrun.Report, exit *Exit, score *diagnose.Score, compat []diagnose.Compat, bisect *BisectSection) ([]byte, error) {
	doc := resultsFile{Schema: ResultsSchema, Summary: Summarize(results, exit), Repeats: Repeats(results), Score: score, Compat: compat,
		Results: make([]resultEntry, len(results)), Bisect: bisect}
	for i, r := range results {
		doc.Results[i] = newResultEntry(r)
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false) // keep "<redacted:…>" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render %s: %w", ResultsFile, err)
	}
	return js.Bytes(), nil
}

// WriteAll writes junit.xml, summary.md, results.json and report.html into the
// artifacts directory (and each bundle's report.html) and appends the summary
// to $GITHUB_STEP_SUMMARY when it is set.
// It writes each file whole (temp file and rename), so a reader never sees a
// half-written report.
func WriteAll(in WriteInput) error {
	// Bad input is refused before anything is written.
	if _, err := ParseJUnitInconclusive(string(in.JUnitInconclusive)); err != nil {
		return fault.BadInputErr(fmt.Errorf("report.WriteInput.JUnitInconclusive (-junit-inconclusive) %w", err))
	}
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

	junit, err := RenderJUnit(results, in.JUnitInconclusive)
	if err != nil {
		return err
	}
	summary := append(RenderMarkdown(results, in.MaxEvidence, in.Exit), RenderDiagnosisMarkdown(in.Score, in.Compat)...)
	if in.Bisect != nil {
		summary = append(RenderBisectMarkdown(*in.Bisect), summary...)
	}
	js, err := renderResults(results, in.Exit, in.Score, in.Compat, in.Bisect)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{{JUnitFile, junit}, {SummaryFile, summary}, {ResultsFile, js}}
	if len(in.Compat) > 0 {
		data, err := MarshalCompat(in.Compat)
		if err != nil {
			return err
		}
		files = append(files, struct {
			name string
			data []byte
		}{CompatFile, data})
	}

	// Fields are redacted above; this last pass catches known values in
	// anything else (cell names, overrides) without touching format escapes.
	for _, f := range files {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), []byte(in.Redactor.RedactKnown(string(f.data)))); err != nil {
			return err
		}
	}
	if err := writeHTML(dir, results, in.Redactor, 0, in.Exit); err != nil {
		return err
	}
	if in.Bisect != nil {
		if err := writeBisectHTML(dir, results, in.Redactor, *in.Bisect, in.Compat); err != nil {
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
func RedactResults(results []cellrun.Report, r *secrets.Redactor) []cellrun.Report {
	out := make([]cellrun.Report, len(results))
	for i, res := range results {
		res.Cell.Expect.Why = r.Redact(res.Cell.Expect.Why)
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
		res.Rollouts = redactRollouts(res.Rollouts, r)
		res.Ledger = RedactObservations(res.Ledger, r)
		if res.Ledger == nil {
			res.Ledger = []ledger.Observation{} // "ledger": [] rather than null
		}
		out[i] = res
	}
	return out
}

// RedactObservations returns a copy of obs with its free-text fields redacted.
func RedactObservations(obs []ledger.Observation, r *secrets.Redactor) []ledger.Observation {
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

// redactRollouts returns a copy of rollouts with images and pod names redacted
// of known values (they hold no token, but overrides are free text).
func redactRollouts(rollouts []cell.Rollout, r *secrets.Redactor) []cell.Rollout {
	if rollouts == nil {
		return nil
	}
	pods := func(ps []cell.PodImage) []cell.PodImage {
		if ps == nil {
			return nil
		}
		out := make([]cell.PodImage, len(ps))
		for i, p := range ps {
			out[i] = cell.PodImage{Name: r.RedactKnown(p.Name), Image: r.RedactKnown(p.Image)}
		}
		return out
	}
	out := make([]cell.Rollout, len(rollouts))
	for i, ro := range rollouts {
		ro.FromImage, ro.ToImage = r.RedactKnown(ro.FromImage), r.RedactKnown(ro.ToImage)
		ro.Pods, ro.Replaced = pods(ro.Pods), pods(ro.Replaced)
		out[i] = ro
	}
	return out
}
