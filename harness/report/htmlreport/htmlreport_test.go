package htmlreport

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
)

var (
	update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")
	// record trims a results.json of a real run into the fixture, e.g.
	// go test ./harness/report/htmlreport -run TestRecordFixture -record=_artifacts/results.json
	record = flag.String("record", "", "results.json of a real run to trim into "+fixtureFile)
)

// fixtureFile is a real v0.2.0→v0.2.2 cell (e2e TestUpgradeMatrix), its ledger
// trimmed by TestRecordFixture to what the timeline draws.
const fixtureFile = "testdata/v0.2.0-v0.2.2.result.json"

func recorded(t *testing.T) cellrun.Report {
	t.Helper()
	data, err := os.ReadFile(fixtureFile)
	if err != nil {
		t.Fatalf("read %s: %v", fixtureFile, err)
	}
	var r cellrun.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", fixtureFile, err)
	}
	return r
}

// describe stands in for report.FormatObservation (this package cannot import report).
func describe(o ledger.Observation) string {
	return fmt.Sprintf("%s [%s] %s caller=%s %s %s status=%d session=%s/%s | %s", o.Time.UTC().Format("15:04:05.000"), o.Phase, o.Signal,
		o.Caller, o.Method, o.Path, o.Status, o.Namespace, o.Session, o.Detail)
}

func render(t *testing.T, in Input) string {
	t.Helper()
	if in.Describe == nil {
		in.Describe = describe
	}
	out, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestGoldenReport(t *testing.T) {
	got := render(t, Input{Results: []cellrun.Report{recorded(t)}})
	path := filepath.Join("testdata", "report.html.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run go test ./harness/report/htmlreport -update to create it): %v", path, err)
	}
	if got != string(want) {
		t.Errorf("report.html differs from %s; rerun with -update if the change is intended", path)
	}
}

// The page must load nothing: no script, stylesheet, image, font or frame from
// anywhere, and every link stays inside the page.
func TestReportIsSelfContained(t *testing.T) {
	page := render(t, Input{Results: []cellrun.Report{recorded(t)}})
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script`), regexp.MustCompile(`(?i)<link\b`), regexp.MustCompile(`(?i)<img\b`),
		regexp.MustCompile(`(?i)<iframe\b`), regexp.MustCompile(`(?i)<object\b`), regexp.MustCompile(`(?i)<embed\b`),
		regexp.MustCompile(`(?i)\bsrc\s*=`), regexp.MustCompile(`(?i)@import`), regexp.MustCompile(`(?i)url\(`),
		regexp.MustCompile(`(?i)(href|xlink:href|action)\s*=\s*"(https?:|//|file:|data:)`),
	} {
		if loc := bad.FindStringIndex(page); loc != nil {
			t.Errorf("report.html holds %q at offset %d: it must load nothing", page[loc[0]:min(loc[1]+40, len(page))], loc[0])
		}
	}
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "#") {
			t.Errorf("link %q leaves the page", m[1])
		}
	}
	if !strings.Contains(page, `<svg class="timeline"`) || !strings.Contains(page, "<style>") {
		t.Error("report.html has no inline SVG timeline or no inline style")
	}
}

type mark struct {
	class, caller, family, phase, key, fill string
	x                                       float64
}

var (
	circleRe  = regexp.MustCompile(`<circle class="mark ([^"]+)" data-time="[^"]*" data-caller="([^"]*)" data-family="([^"]*)" data-phase="([^"]*)" data-key="([^"]*)" cx="([0-9.]+)" cy="[0-9.]+" r="4" fill="([^"]+)">`)
	upgradeRe = regexp.MustCompile(`<line class="vline upgrade-mark" data-time="[^"]*" x1="([0-9.]+)"`)
	laneRe    = regexp.MustCompile(`<g class="lane" data-lane="([^"]+)">`)
)

func marks(t *testing.T, page string) []mark {
	var out []mark
	for _, m := range circleRe.FindAllStringSubmatch(page, -1) {
		x, _ := strconv.ParseFloat(m[6], 64)
		out = append(out, mark{class: m[1], caller: m[2], family: unescape(m[3]), phase: m[4], key: m[5], x: x, fill: m[7]})
	}
	return out
}

func unescape(s string) string { return strings.NewReplacer("&#43;", "+", "&amp;", "&").Replace(s) }

// The recorded cell: v0.2.2's runner rejects the backend's and the operator's
// calls once the upgrade starts, and the page shows it.
func TestTimelineOfTheRecordedRegression(t *testing.T) {
	r := recorded(t)
	page := render(t, Input{Results: []cellrun.Report{r}})
	up := upgradeRe.FindStringSubmatch(page)
	if up == nil {
		t.Fatal("no upgrade mark")
	}
	upX, _ := strconv.ParseFloat(up[1], 64)
	ms := marks(t, page)
	want401 := 0
	for _, o := range r.Ledger {
		if o.Signal == ledger.SignalRunner401 {
			want401++
		}
	}
	if len(ms) != want401 || want401 == 0 {
		t.Fatalf("%d 401 marks, want one per runner-401 entry (%d)", len(ms), want401)
	}
	after := map[string]bool{}
	for _, m := range ms {
		if m.x < upX {
			t.Errorf("%s %s 401 drawn at x=%v, left of the upgrade mark (x=%v)", m.caller, m.family, m.x, upX)
		}
		if m.fill != MarkColour(m.key) || m.key != "phase:"+m.phase {
			t.Errorf("mark %+v: fill and key must follow MarkKey (phase until the ledger classifies 401s)", m)
		}
		after[m.caller] = true
	}
	if !after["backend"] || !after["operator"] {
		t.Errorf("callers with 401 marks: %v, want backend and operator", after)
	}
	var lanes []string
	for _, m := range laneRe.FindAllStringSubmatch(page, -1) {
		lanes = append(lanes, unescape(m[1]))
	}
	for _, want := range []string{"component:operator", "component:backend", "component:runner", "401:backend /", "401:operator /workflow"} {
		if !contains(lanes, want) {
			t.Errorf("lanes %q lack %s", lanes, want)
		}
	}
	for _, band := range []string{"before", "during", "after"} {
		if !strings.Contains(page, `data-phase="`+band+`" x=`) {
			t.Errorf("no %s band", band)
		}
	}
	if !strings.Contains(page, `class="span comp-rollout"`) || !strings.Contains(page, "replaced ") {
		t.Error("no rollout window with its replaced pods on the component lanes")
	}
	if !strings.Contains(page, `class="span session-phase phase-Running"`) {
		t.Error("no Running span on the session lanes")
	}
	if !strings.Contains(page, `class="mark mark-restart"`) {
		t.Error("no restart mark")
	}
	if !strings.Contains(page, `<span class="verdict verdict-fail">fail</span>`) || !strings.Contains(page, r.Repro) {
		t.Error("no verdict badge or no repro line")
	}
}

// Ledger text goes through html/template: markup in a log line stays text.
func TestLedgerTextIsEscaped(t *testing.T) {
	r := recorded(t)
	for i := range r.Ledger {
		if r.Ledger[i].Signal == ledger.SignalRunner401 {
			r.Ledger[i].Detail = `<script>fetch("https://example.com")</script><img src=x onerror=alert(1)>`
			break
		}
	}
	page := render(t, Input{Results: []cellrun.Report{r}})
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img src") {
		t.Error("a ledger line was written as markup")
	}
	if !strings.Contains(page, "&lt;script&gt;fetch(&#34;https://example.com&#34;)&lt;/script&gt;") {
		t.Error("the escaped ledger line is missing from the hover title")
	}
}

// A later change classifies 401s and adds a rolled-back phase; the page has
// room for both without a change to its layout.
func TestBandsForPhasesTheLedgerAdds(t *testing.T) {
	r := recorded(t)
	end := r.Started.Add(r.Duration)
	r.Ledger = append(r.Ledger, ledger.Observation{Time: end.Add(-20 * time.Second), Phase: "rolled-back", Signal: ledger.SignalCondition,
		Namespace: "uh-cell", Session: "uh-cr-after", Detail: "phase=Running"},
		ledger.Observation{Time: end.Add(-5 * time.Second), Phase: "rolled-back", Signal: ledger.SignalRunnerAccess})
	sort.SliceStable(r.Ledger, func(i, j int) bool { return r.Ledger[i].Time.Before(r.Ledger[j].Time) })
	page := render(t, Input{Results: []cellrun.Report{r}})
	if !strings.Contains(page, `class="band band-rolled-back" data-phase="rolled-back"`) || !strings.Contains(page, bandColours["rolled-back"].Fill) {
		t.Error("no rolled-back band")
	}
}

// The diagnosis / compatibility slot renders nothing until it has a table.
func TestExtraTablesOnlyWhenGiven(t *testing.T) {
	r := recorded(t)
	if page := render(t, Input{Results: []cellrun.Report{r}}); strings.Contains(page, `class="extra"`) {
		t.Error("an empty table slot was rendered")
	}
	page := render(t, Input{Results: []cellrun.Report{r}, Tables: func(cellrun.Report) []Table {
		return []Table{{Title: "Compatibility", Header: []string{"caller", "runner"}, Rows: [][]string{{"backend v0.2.0", "v0.2.2: 401"}}}}
	}})
	if !strings.Contains(page, "<h3>Compatibility</h3>") || !strings.Contains(page, "<td>v0.2.2: 401</td>") {
		t.Error("the given table is missing")
	}
}

func TestCellThatCouldNotRunHasNoTimeline(t *testing.T) {
	r := cellrun.Report{Result: cell.Result{Cell: recorded(t).Cell, Verdict: "inconclusive", Error: "kind create cluster: exit status 1", Duration: 12 * time.Second}}
	page := render(t, Input{Results: []cellrun.Report{r}})
	if strings.Contains(page, `<svg class="timeline"`) || !strings.Contains(page, "No timeline: the cell recorded no observation") {
		t.Error("a cell without observations must say it has no timeline, not draw an empty one")
	}
	if !strings.Contains(page, "kind create cluster: exit status 1") {
		t.Error("the infrastructure error is missing")
	}
}

func TestRenderNeedsDescribe(t *testing.T) {
	if _, err := Render(Input{}); err == nil || !strings.Contains(err.Error(), "Describe") {
		t.Errorf("err = %v, want one naming Input.Describe", err)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// TestRecordFixture trims a real run's results.json into fixtureFile: every
// session phase change and restart, and of the other entries the timeline
// draws (runner 401s per caller → family, platform 401 lines, RUN_ERRORs,
// runner auth lines, gaps) at most maxPerLane of a kind; rule evidence is cut
// to 3 entries. It runs only with -record.
func TestRecordFixture(t *testing.T) {
	if *record == "" {
		t.Skip("records the fixture only with -record=<results.json>")
	}
	const maxPerLane = 4
	data, err := os.ReadFile(*record)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []cellrun.Report `json:"results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var r *cellrun.Report
	for i := range doc.Results {
		if doc.Results[i].Cell.Name() == "v0.2.0-v0.2.2" {
			r = &doc.Results[i]
		}
	}
	if r == nil {
		t.Fatalf("%s has no v0.2.0-v0.2.2 cell", *record)
	}
	perLane := map[string]int{}
	var kept []ledger.Observation
	for _, o := range r.Ledger {
		k := string(o.Signal)
		switch o.Signal {
		case ledger.SignalRunner401:
			k += string(o.Caller) + platform.PathFamily(o.Path)
		case ledger.SignalCondition:
			if !strings.HasPrefix(o.Detail, "phase=") {
				continue
			}
			k += o.Namespace + o.Session
		case ledger.SignalSessionState, ledger.SignalRunError401, ledger.SignalRunnerAuthEnabled, ledger.SignalGap,
			ledger.SignalBackendProxy401, ledger.SignalBackendListener401, ledger.SignalOperatorWorkflow401, ledger.SignalOperatorRepo401:
		default:
			continue
		}
		if perLane[k]++; perLane[k] > maxPerLane && o.Signal != ledger.SignalCondition && !strings.Contains(o.Detail, "restart:") {
			continue
		}
		kept = append(kept, o)
	}
	r.Ledger = kept
	for i := range r.Rules {
		if len(r.Rules[i].Evidence) > 3 {
			r.Rules[i].Evidence = r.Rules[i].Evidence[:3]
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixtureFile, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d of the ledger's entries, %d bytes", fixtureFile, len(kept), b.Len())
}

// The wire witness's requests are marks on lanes of their own, coloured by
// the runner's answer.
func TestWireRequestMarks(t *testing.T) {
	r := recorded(t)
	at := r.Started.Add(r.Duration / 2)
	w := &ledger.WireRequest{HeaderNames: []string{"Accept"}}
	r.Ledger = append(r.Ledger,
		ledger.Observation{Time: at, Phase: ledger.PhaseAfter, Signal: ledger.SignalWireRequest, Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Status: 401, Wire: w},
		ledger.Observation{Time: at.Add(time.Second), Phase: ledger.PhaseAfter, Signal: ledger.SignalWireRequest, Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Wire: w},
		// Not drawn: a wire-request entry without its wire part.
		ledger.Observation{Time: at, Phase: ledger.PhaseAfter, Signal: ledger.SignalWireRequest, Caller: ledger.CallerBackend, Path: "/"})
	sort.SliceStable(r.Ledger, func(i, j int) bool { return r.Ledger[i].Time.Before(r.Ledger[j].Time) })
	page := render(t, Input{Results: []cellrun.Report{r}})
	if n := strings.Count(page, `class="mark mark-wire"`); n != 2 {
		t.Errorf("%d wire marks, want 2", n)
	}
	for _, want := range []string{`data-caller="operator" data-family="/workflow" data-phase="after" data-key="status:401"`, `data-key="status:0"`,
		"wire: requests to runners, caller → path family", "2 requests, 1 × 401", wire401.Label, wireNoStatus.Label} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
