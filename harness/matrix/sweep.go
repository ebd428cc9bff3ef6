package matrix

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/sweep"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// SweepOutput is a compatibility sweep's outcome.
type SweepOutput struct {
	Compat diagnose.Compat
	Kept   []string
}

// ValidateSweep checks a sweep's input as Validate checks a matrix run's —
// catalog, image remap, manifests dir, simulated releases, target cluster,
// artifacts directory — and that it names exactly one -from and one other -to
// release of the catalog, before anything is built or created. The plan's one
// cell is from → to.
func ValidateSweep(in Input) (Plan, catalog.Release, catalog.Release, error) {
	var none catalog.Release
	if len(in.Filter.From) != 1 || len(in.Filter.To) != 1 {
		return Plan{}, none, none, fault.BadInputErr(fmt.Errorf("diagnose needs exactly one -from and one -to release (got -from %q, -to %q; want e.g. -from v0.2.0 -to v0.2.2)",
			strings.Join(in.Filter.From, ","), strings.Join(in.Filter.To, ",")))
	}
	cat, err := openCatalog(in)
	if err != nil {
		return Plan{}, none, none, err
	}
	// Cells checks that both are releases of the catalog (naming -from/-to);
	// the sweep needs no cell of the matrix for them.
	if _, err := cat.Cells(catalog.Filter{From: in.Filter.From, To: in.Filter.To}); err != nil {
		return Plan{}, none, none, err
	}
	fromV, toV := in.Filter.From[0], in.Filter.To[0]
	if fromV == toV {
		return Plan{}, none, none, fault.BadInputErr(fmt.Errorf("-to %q: the same release as -from (want two different releases: the sweep mixes their components)", toV))
	}
	plan, err := planFor(in, cat, []upgrade.Cell{{Catalog: cat.Name, From: fromV, To: toV, Source: "diagnose"}})
	if err != nil {
		return Plan{}, none, none, err
	}
	if err := checkWhere(in); err != nil {
		return Plan{}, none, none, err
	}
	from, _ := cat.Release(fromV)
	to, _ := cat.Release(toV)
	return plan, from, to, nil
}

// Sweep runs the compatibility sweep of in.Filter's one from and one to (the
// diagnose command): the eight combinations of operator, backend and runner
// versions on one cluster, reset between. It writes compat.json and
// summary.md (the compat section) to in.Artifacts.
func Sweep(ctx context.Context, in Input) (SweepOutput, error) {
	if in.Log == nil {
		in.Log = os.Stderr
	}
	if in.Keep == "" {
		in.Keep = KeepOnFailure
	}
	if in.ClusterName == "" {
		in.ClusterName = "uh-diagnose"
	}
	plan, from, to, err := ValidateSweep(in)
	if err != nil {
		return SweepOutput{}, err
	}
	p := progress.New(in.Log)
	cat, cells := plan.Catalog, plan.Cells
	if plan.Simulated {
		if err := p.Phase("build simulated images", func() error { return BuildSimulated(ctx, cat, cells, in.Log) }); err != nil {
			return SweepOutput{}, err
		}
	} else if in.Kubeconfig == "" {
		if err := p.Phase("pull release images", func() error { return pullImages(ctx, cat, cells, in.Log) }); err != nil {
			return SweepOutput{}, fault.InfraErr(err)
		}
	}
	target := in.Target
	if target == nil {
		t, err := openTarget(ctx, in, in.ClusterName, p)
		if err != nil {
			return SweepOutput{}, fault.InfraErr(err)
		}
		target = t
	}
	red := secrets.NewRedactor()
	var out SweepOutput
	runErr := p.Phase(fmt.Sprintf("compatibility sweep %s → %s", from.Version, to.Version), func() error {
		var err error
		out.Compat, err = sweep.Run(ctx, sweep.Input{Target: target, Catalog: cat, From: from, To: to, Timing: in.SweepTiming, Redactor: red, Log: in.Log})
		return err
	})
	if target.Kind != nil && in.Target == nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		defer cancel()
		if in.Keep == KeepAlways || (in.Keep == KeepOnFailure && runErr != nil) {
			out.Kept = append(out.Kept, target.AccessLine())
			fmt.Fprintf(in.Log, "[diagnose] keeping cluster: %s\n", target.AccessLine())
		} else if err := target.Kind.Destroy(cleanup); err != nil {
			fmt.Fprintf(in.Log, "[diagnose] warning: %v\n", err)
		}
	}
	if err := writeSweepReports(in.Artifacts, out.Compat, red); err != nil {
		return out, fault.InfraErr(err)
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		return out, fault.InfraErr(runErr)
	}
	return out, nil
}

// writeSweepReports writes compat.json and summary.md, then checks that no
// secret value the sweep saw is in them.
func writeSweepReports(dir string, c diagnose.Compat, red *secrets.Redactor) error {
	if dir == "" {
		dir = report.ArtifactsDir(nil)
	}
	data, err := report.MarshalCompat([]diagnose.Compat{c})
	if err != nil {
		return err
	}
	if err := report.WriteFileAtomic(filepath.Join(dir, report.CompatFile), []byte(red.RedactKnown(string(data)))); err != nil {
		return err
	}
	summary := report.RenderDiagnosisMarkdown(nil, []diagnose.Compat{c})
	if err := report.WriteFileAtomic(filepath.Join(dir, report.SummaryFile), []byte(red.RedactKnown(string(summary)))); err != nil {
		return err
	}
	if findings, err := secrets.ScanDir(dir, red.Values()); err != nil || len(findings) > 0 {
		return fmt.Errorf("secret values found under %s (%d findings, %v): the reports were not redacted", dir, len(findings), err)
	}
	return nil
}
