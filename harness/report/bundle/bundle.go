// Package bundle collects a failure bundle for one cell: every container log
// split at the moment the upgrade started, events, the platform objects, the
// AgenticSession CRs, Secrets as key names and fingerprints only, and the
// cell's ledger, with an index.md that says what is where. Everything written
// goes through a secrets.Redactor, which also learns every Secret value it sees
// before any log or object is written.
package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// Defaults of CollectInput.
const (
	DefaultPlatformNamespace = "ambient-code"
	DefaultProjectSelector   = "ambient-code.io/managed=true"
)

// Layout of a bundle, relative to CollectInput.Dir.
const (
	IndexFile       = "index.md"
	LedgerJSONFile  = "ledger.json"
	LedgerTextFile  = "ledger.txt"
	WireFile        = "wire.jsonl"
	LogsDir         = "logs"
	ResourcesDir    = "resources"
	NodesDir        = "nodes"
	SecretsFile     = "secrets.yaml"
	EventsFile      = "events.yaml"
	NamespacesFile  = "namespaces.yaml"
	SessionsFile    = "agenticsessions.yaml"
	BeforeLogSuffix = ".before.log"
	AfterLogSuffix  = ".after.log"
)

// CollectInput is what Collect needs. Client and Dir are required.
type CollectInput struct {
	Client kubernetes.Interface
	// Dynamic reads AgenticSession CRs; without it they are recorded as missing.
	Dynamic dynamic.Interface
	// Dir is the bundle directory, e.g. $ARTIFACTS/cells/<cell-name>.
	Dir string
	// Title names the cell in index.md's heading, as every report does
	// (report.Title: "v0.2.0 → v0.2.2 → v0.2.0 (rollback) [all-at-once]");
	// the heading is "Failure bundle" alone when empty.
	Title string
	// PlatformNamespace defaults to DefaultPlatformNamespace.
	PlatformNamespace string
	// ProjectSelector selects project namespaces; DefaultProjectSelector when empty.
	ProjectSelector string
	// UpgradeStarted splits logs into .before.log and .after.log; zero puts
	// everything in .before.log (the upgrade never started).
	UpgradeStarted time.Time
	// Redactor scrubs everything written and learns Secret values; a new one when nil.
	Redactor *secrets.Redactor
	// NodeLogs exports node logs (kind export logs) into the directory it is
	// given; may be nil. Its files are redacted in place afterwards.
	NodeLogs func(dir string) error
	// Ledger is the cell's ledger, written as ledger.json and ledger.txt.
	Ledger []ledger.Observation
	// Logs fetches container logs; NewClientLogSource(Client) when nil.
	Logs LogSource
	// Now stamps the index; time.Now when nil.
	Now func() time.Time
}

// Failure is one item the bundle could not collect.
type Failure struct {
	Item  string `json:"item"`
	Error string `json:"error"`
}

// Summary says what Collect wrote.
type Summary struct {
	Dir        string   `json:"dir"`
	Namespaces []string `json:"namespaces"`
	// Files are relative to Dir, sorted.
	Files []string `json:"files"`
	// Failures are items that could not be collected; the rest was still written.
	Failures []Failure `json:"failures,omitempty"`
	// Notes are expected gaps, e.g. a container that never started.
	Notes []string `json:"notes,omitempty"`
	// SecretsLearned is how many Secret values were added to the Redactor.
	SecretsLearned int `json:"secretsLearned"`
}

// collector carries one Collect call's state.
type collector struct {
	in      CollectInput
	red     *secrets.Redactor
	summary Summary
}

// Collect writes a failure bundle into in.Dir. It keeps going when one item
// fails and lists the failures in Summary and index.md; the error is non-nil
// only when the input is invalid or the bundle directory or its index cannot
// be written.
func Collect(ctx context.Context, in CollectInput) (Summary, error) {
	if in.Client == nil {
		return Summary{}, errors.New("bundle: CollectInput.Client is nil; pass a kubernetes.Interface for the cell's cluster")
	}
	if in.Dir == "" {
		return Summary{}, errors.New("bundle: CollectInput.Dir is empty; pass a directory such as $ARTIFACTS/cells/<cell-name>")
	}
	if in.PlatformNamespace == "" {
		in.PlatformNamespace = DefaultPlatformNamespace
	}
	if in.ProjectSelector == "" {
		in.ProjectSelector = DefaultProjectSelector
	}
	if in.Logs == nil {
		in.Logs = NewClientLogSource(in.Client)
	}
	if in.Now == nil {
		in.Now = time.Now
	}
	red := in.Redactor
	if red == nil {
		red = secrets.NewRedactor()
	}
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("bundle: create %s: %w", in.Dir, err)
	}
	c := &collector{in: in, red: red, summary: Summary{Dir: in.Dir}}

	namespaces := c.collectNamespaces(ctx)
	c.summary.Namespaces = namespaces
	// Secrets first: their values must be known before any log or object
	// that could echo them is written.
	for _, ns := range namespaces {
		c.collectSecrets(ctx, ns)
	}
	for _, ns := range namespaces {
		c.collectObjects(ctx, ns)
		c.collectEvents(ctx, ns)
	}
	c.collectSessions(ctx, namespaces)
	for _, ns := range namespaces {
		c.collectLogs(ctx, ns)
	}
	c.writeLedger()
	c.collectNodeLogs()

	if err := c.writeIndex(); err != nil {
		return c.summary, err
	}
	sort.Strings(c.summary.Files)
	return c.summary, nil
}

func (c *collector) fail(item string, err error) {
	c.summary.Failures = append(c.summary.Failures, Failure{Item: item, Error: c.red.Redact(err.Error())})
}

func (c *collector) note(format string, args ...any) {
	c.summary.Notes = append(c.summary.Notes, c.red.Redact(fmt.Sprintf(format, args...)))
}

// write redacts data (values and token patterns) and writes it to rel.
func (c *collector) write(rel string, data []byte) {
	c.writeRaw(rel, c.red.RedactBytes(data))
}

func (c *collector) writeRaw(rel string, data []byte) {
	if err := report.WriteFileAtomic(filepath.Join(c.in.Dir, rel), data); err != nil {
		c.fail(rel, err)
		return
	}
	c.summary.Files = append(c.summary.Files, filepath.ToSlash(rel))
}

// stopped records a cancelled context once per item and says whether to skip it.
func (c *collector) stopped(ctx context.Context, item string) bool {
	if err := ctx.Err(); err != nil {
		c.fail(item, fmt.Errorf("not collected: %w", err))
		return true
	}
	return false
}

func (c *collector) writeLedger() {
	obs := append([]ledger.Observation(nil), c.in.Ledger...)
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].Time.Before(obs[j].Time) })
	obs = report.RedactObservations(obs, c.red)
	if obs == nil {
		obs = []ledger.Observation{}
	}
	data, err := marshalJSON(obs)
	if err != nil {
		c.fail(LedgerJSONFile, err)
	} else {
		c.writeRaw(LedgerJSONFile, []byte(c.red.RedactKnown(string(data))))
	}
	var b strings.Builder
	for _, o := range obs {
		b.WriteString(report.FormatObservation(o) + "\n")
	}
	c.writeRaw(LedgerTextFile, []byte(c.red.RedactKnown(b.String())))
	c.writeWire(obs)
}

// writeWire writes the wire witness's requests as wire.jsonl, one JSON
// object a line. They hold header names and fingerprints only (the witness
// never records a value); the known-values pass runs over them all the same.
// When the witness could not run the index says why instead.
func (c *collector) writeWire(obs []ledger.Observation) {
	var b strings.Builder
	n, noted := 0, false
	for _, o := range obs {
		if o.Signal != ledger.SignalWireRequest || o.Wire == nil {
			if diagnose.WitnessDown(o) && !noted {
				c.note("the wire witness did not run (%s): no %s", o.Detail, WireFile)
				noted = true
			}
			continue
		}
		line, err := json.Marshal(o)
		if err != nil {
			c.fail(WireFile, err)
			return
		}
		b.Write(line)
		b.WriteByte('\n')
		n++
	}
	if n > 0 {
		c.writeRaw(WireFile, []byte(c.red.RedactKnown(b.String())))
	}
}

func (c *collector) collectNodeLogs() {
	if c.in.NodeLogs == nil {
		return
	}
	dir := filepath.Join(c.in.Dir, NodesDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.fail(NodesDir, err)
		return
	}
	if err := c.in.NodeLogs(dir); err != nil {
		c.fail(NodesDir, fmt.Errorf("export node logs: %w", err))
	}
	// The exporter wrote on its own; scrub its files before anyone reads them.
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(c.in.Dir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			c.fail(rel, err)
			return nil
		}
		redacted := c.red.RedactBytes(data)
		if string(redacted) != string(data) {
			if err := report.WriteFileAtomic(path, redacted); err != nil {
				c.fail(rel, err)
				return nil
			}
		}
		c.summary.Files = append(c.summary.Files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		c.fail(NodesDir, fmt.Errorf("redact node logs: %w", err))
	}
}
