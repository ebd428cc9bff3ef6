package bundle

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/report"
)

// layout explains each part of a bundle, in index.md order.
var layout = []struct{ path, what string }{
	{IndexFile, "this file"},
	{report.HTMLFile, "this cell's timeline page (written with the run's reports, after the bundle)"},
	{LedgerTextFile, "every ledger observation, one line each, in time order"},
	{LedgerJSONFile, "the same ledger as JSON (field names of ledger.Observation)"},
	{WireFile, "the wire witness's requests to runners, one JSON object a line: who sent what where, header names and token fingerprints — never values"},
	{LogsDir + "/<ns>/<pod>/<container>" + BeforeLogSuffix, "container log lines stamped before the upgrade started (kubelet timestamps kept)"},
	{LogsDir + "/<ns>/<pod>/<container>" + AfterLogSuffix, "container log lines stamped at or after the upgrade start"},
	{LogsDir + "/<ns>/<pod>/<container>.previous.{before,after}.log", "the previous instance of a restarted container"},
	{ResourcesDir + "/" + NamespacesFile, "the platform namespace and the project namespaces"},
	{ResourcesDir + "/<ns>/{deployments,replicasets,pods,services,configmaps,serviceaccounts,networkpolicies}.yaml", "objects as kubectl-style Lists, managedFields and last-applied annotations dropped"},
	{ResourcesDir + "/<ns>/" + SessionsFile, "AgenticSession CRs (vteam.ambient-code/v1alpha1)"},
	{ResourcesDir + "/<ns>/" + EventsFile, "events in time order"},
	{ResourcesDir + "/<ns>/" + SecretsFile, "Secrets as name, type, key names, value fingerprints (sha256:…) and lengths — never values"},
	{NodesDir + "/", "node logs exported by kind (redacted in place), when collected"},
}

func (c *collector) writeIndex() error {
	s := &c.summary
	var b strings.Builder
	if c.in.Title != "" {
		fmt.Fprintf(&b, "# Failure bundle: %s\n\n", report.OneLine(c.in.Title))
	} else {
		b.WriteString("# Failure bundle\n\n")
	}
	fmt.Fprintf(&b, "- Collected: %s\n", c.in.Now().UTC().Format(time.RFC3339))
	if c.in.UpgradeStarted.IsZero() {
		b.WriteString("- Upgrade started: never (all log lines are in .before.log)\n")
	} else {
		fmt.Fprintf(&b, "- Upgrade started: %s (logs split here)\n", c.in.UpgradeStarted.UTC().Format(time.RFC3339Nano))
	}
	fmt.Fprintf(&b, "- Platform namespace: `%s`; project namespaces selected by `%s`\n", c.in.PlatformNamespace, c.in.ProjectSelector)
	fmt.Fprintf(&b, "- Namespaces collected: %s\n", strings.Join(s.Namespaces, ", "))
	fmt.Fprintf(&b, "- Secret values learned for redaction: %d (shown as `<redacted:name sha256:…>`)\n", s.SecretsLearned)
	fmt.Fprintf(&b, "- Ledger observations: %d\n\n", len(c.in.Ledger))

	b.WriteString("## Layout\n\n| Path | What |\n|---|---|\n")
	for _, l := range layout {
		fmt.Fprintf(&b, "| `%s` | %s |\n", l.path, l.what)
	}

	b.WriteString("\n## Problems while collecting\n\n")
	if len(s.Failures) == 0 {
		b.WriteString("None: every item was collected.\n")
	}
	for _, f := range s.Failures {
		fmt.Fprintf(&b, "- `%s`: %s\n", f.Item, report.OneLine(f.Error))
	}
	if len(s.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "- %s\n", report.OneLine(n))
		}
	}

	files := append([]string(nil), s.Files...)
	files = append(files, IndexFile)
	sort.Strings(files)
	b.WriteString("\n## Files\n\n")
	for _, f := range files {
		fmt.Fprintf(&b, "- [`%s`](%s)\n", f, f)
	}

	before := len(s.Failures)
	c.write(IndexFile, []byte(b.String()))
	if len(s.Failures) > before {
		return fmt.Errorf("bundle: write %s: %s", IndexFile, s.Failures[len(s.Failures)-1].Error)
	}
	return nil
}
