package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// SuiteName names the single JUnit test suite of a run.
const SuiteName = "upgrade-harness"

// The JUnit elements are declared here rather than taken from
// go-junit-report/v2's junit package: its Testcase has no <properties>, and
// each cell's case carries its from, to, order, repro line and bundle there.
type junitTestsuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Skipped  int              `xml:"skipped,attr"`
	Time     string           `xml:"time,attr"`
	Suites   []junitTestsuite `xml:"testsuite"`
}

type junitTestsuite struct {
	Name      string          `xml:"name,attr"`
	Tests     int             `xml:"tests,attr"`
	Failures  int             `xml:"failures,attr"`
	Errors    int             `xml:"errors,attr"`
	Skipped   int             `xml:"skipped,attr"`
	Time      string          `xml:"time,attr"`
	Timestamp string          `xml:"timestamp,attr,omitempty"`
	Cases     []junitTestcase `xml:"testcase"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestcase struct {
	Name       string           `xml:"name,attr"`
	Classname  string           `xml:"classname,attr"`
	Time       string           `xml:"time,attr"`
	Properties *junitProperties `xml:"properties,omitempty"`
	Failure    *junitProblem    `xml:"failure,omitempty"`
	Error      *junitProblem    `xml:"error,omitempty"`
	Skipped    *junitSkipped    `xml:"skipped,omitempty"`
	SystemOut  string           `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	// CDATA keeps evidence lines on their own lines for people reading the file.
	Body string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// JUnitInconclusive is how junit.xml writes a rule that was inconclusive
// where the cell did not expect it: CI dashboards hide skipped tests, so a
// rule the harness could not decide is a failure unless asked otherwise.
type JUnitInconclusive string

const (
	// JUnitInconclusiveFailure writes it as <failure type="inconclusive"> (the default).
	JUnitInconclusiveFailure JUnitInconclusive = "failure"
	// JUnitInconclusiveSkipped writes it as <skipped> (the behaviour before).
	JUnitInconclusiveSkipped JUnitInconclusive = "skipped"
)

// ParseJUnitInconclusive checks a -junit-inconclusive value; "" is the default.
func ParseJUnitInconclusive(s string) (JUnitInconclusive, error) {
	switch v := JUnitInconclusive(s); v {
	case "":
		return JUnitInconclusiveFailure, nil
	case JUnitInconclusiveFailure, JUnitInconclusiveSkipped:
		return v, nil
	}
	return "", fmt.Errorf("%q is not a way to write an inconclusive rule (want %s, the default: a JUnit <failure>, or %s: a JUnit <skipped>, which CI dashboards hide)",
		s, JUnitInconclusiveFailure, JUnitInconclusiveSkipped)
}

// RenderJUnit renders results (already redacted) as one JUnit test suite: a
// test case per cell and one per rule of each cell. A cell that could not run
// is an <error> naming the failed step and what to try; an inconclusive rule
// is written as inconclusive says ("" is JUnitInconclusiveFailure).
func RenderJUnit(results []cellrun.Report, inconclusive JUnitInconclusive) ([]byte, error) {
	mode, err := ParseJUnitInconclusive(string(inconclusive))
	if err != nil {
		return nil, fmt.Errorf("render junit.xml: JUnitInconclusive %w", err)
	}
	suite := junitTestsuite{Name: SuiteName}
	var total time.Duration
	var first time.Time
	for _, r := range results {
		total += r.Duration
		if !r.Started.IsZero() && (first.IsZero() || r.Started.Before(first)) {
			first = r.Started
		}
		suite.Cases = append(suite.Cases, cellCase(r))
		for _, rr := range r.Rules {
			suite.Cases = append(suite.Cases, ruleCase(r, rr, mode))
		}
	}
	for _, c := range suite.Cases {
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Error != nil:
			suite.Errors++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	suite.Tests = len(suite.Cases)
	suite.Time = seconds(total)
	if !first.IsZero() {
		suite.Timestamp = first.UTC().Format("2006-01-02T15:04:05Z")
	}
	doc := junitTestsuites{
		Name: SuiteName, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []junitTestsuite{suite},
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render junit.xml: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func classname(c upgrade.Cell) string {
	if c.Catalog == "" {
		return SuiteName
	}
	return SuiteName + "." + c.Catalog
}

func cellProperties(r cellrun.Report) *junitProperties {
	return &junitProperties{Property: []junitProperty{
		{"from", r.Cell.From},
		{"to", r.Cell.To},
		{"order", orderOf(r.Cell)},
		{"catalog", r.Cell.Catalog},
		{"node image", r.NodeImage},
		{"overrides", FormatOverrides(r.Cell.Overrides)},
		{"expected verdict", string(r.Cell.Expect.Verdict)},
		{"expected why", r.Cell.Expect.Why},
		{"verdict", string(r.Verdict)},
		{"working level", string(workingOf(r))},
		{"repro command", r.Repro},
		{"run", runText(r.Run)},
		{"bundle dir", r.BundleDir},
		{"kept cluster", r.KeptCluster},
	}}
}

func cellCase(r cellrun.Report) junitTestcase {
	tc := junitTestcase{
		Name:       runCaseName(r),
		Classname:  classname(r.Cell),
		Time:       seconds(r.Duration),
		Properties: cellProperties(r),
		SystemOut:  fmt.Sprintf("verdict %s, expected %s; runner 401s: %s", r.Verdict, r.Cell.Expect.Verdict, Format401s(r.Unauthorized)),
	}
	msg := cellMismatch(r)
	switch OutcomeOf(r) {
	case OutcomeInterrupted:
		tc.Error = &junitProblem{Message: msg, Type: "interrupted", Body: xmlSafe(cellBody(r))}
	case OutcomeInfrastructure:
		tc.Error = &junitProblem{Message: msg, Type: "infrastructure", Body: xmlSafe(cellBody(r))}
	case OutcomeRegression:
		tc.Failure = &junitProblem{Message: msg, Type: "mismatch", Body: xmlSafe(cellBody(r))}
	}
	return tc
}

// cellBody lists the broken rules with all their evidence, then how to rerun.
func cellBody(r cellrun.Report) string {
	var b strings.Builder
	if f := InfraFailureOf(r); f != nil {
		fmt.Fprintf(&b, "step: %s\nerror: %s\ntry: %s\n", f.Step, r.Error, f.Try)
	} else if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	for _, rr := range brokenRules(r) {
		fmt.Fprintf(&b, "rule %s: %s: %s\n", rr.Rule, rr.Verdict, OneLine(rr.Reason))
		writeEvidence(&b, rr, 0, "  ")
	}
	fmt.Fprintf(&b, "runner 401s: %s\n", Format401s(r.Unauthorized))
	if r.Repro != "" {
		fmt.Fprintf(&b, "repro: %s\n", r.Repro)
	}
	if r.BundleDir != "" {
		fmt.Fprintf(&b, "bundle: %s\n", r.BundleDir)
	}
	if r.KeptCluster != "" {
		fmt.Fprintf(&b, "kept cluster: %s\n", r.KeptCluster)
	}
	return b.String()
}

// writeEvidence writes up to limit evidence lines (all when limit <= 0).
func writeEvidence(b *strings.Builder, rr verdict.RuleResult, limit int, indent string) {
	for i, o := range rr.Evidence {
		if limit > 0 && i == limit {
			fmt.Fprintf(b, "%s… and %d more (see ledger.txt in the bundle)\n", indent, len(rr.Evidence)-limit)
			return
		}
		b.WriteString(indent + FormatObservation(o) + "\n")
	}
}

func ruleCase(r cellrun.Report, rr verdict.RuleResult, inconclusive JUnitInconclusive) junitTestcase {
	tc := junitTestcase{
		Name:      runCaseName(r) + " / " + rr.Rule,
		Classname: classname(r.Cell),
		Time:      seconds(0),
	}
	if OutcomeOf(r) != OutcomeAsExpected && OutcomeOf(r) != OutcomeRegression {
		// The cell's own <error> says why; its rules decided nothing.
		tc.Skipped = &junitSkipped{Message: OneLine("the cell could not run, its rules decided nothing: " + cellMismatch(r))}
		return tc
	}
	status, msg := ruleOutcome(r, rr)
	if status == ruleInconclusive && inconclusive == JUnitInconclusiveFailure {
		status = ruleFailed
	}
	switch status {
	case ruleFailed:
		var b strings.Builder
		if rr.Description != "" {
			b.WriteString(rr.Description + "\n")
		}
		writeEvidence(&b, rr, 0, "")
		tc.Failure = &junitProblem{Message: OneLine(msg), Type: string(rr.Verdict), Body: xmlSafe(b.String())}
	case ruleInconclusive:
		tc.Skipped = &junitSkipped{Message: OneLine(msg)}
	default:
		tc.SystemOut = fmt.Sprintf("%s: %s", rr.Verdict, OneLine(rr.Reason))
	}
	return tc
}

// xmlSafe replaces characters XML 1.0 forbids (ANSI escapes and other
// control bytes in logs), which CDATA sections cannot carry either.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			return '\uFFFD'
		}
		return r
	}, s)
}

func runText(run int) string {
	if run == 0 {
		return ""
	}
	return fmt.Sprint(run)
}
