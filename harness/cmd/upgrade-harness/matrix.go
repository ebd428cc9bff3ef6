package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/fixtures/platform/release"
	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/images"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
)

func init() {
	register("matrix", "run the upgrade matrix of a catalog (the main job; make e2e / make repro)", runMatrix)
	register("images", "build the simulated component images (localhost/ambient-sim/vteam_*:vX.Y.Z)", runImages)
}

// listFlag collects comma-separated values.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runMatrix(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	cat := fs.String("catalog", "simulated", "catalog name in -catalog-dir, or a catalog file")
	catDir := fs.String("catalog-dir", "fixtures/releases", "directory of catalog files")
	from := fs.String("from", "", "only cells from these releases (comma list)")
	to := fs.String("to", "", "only cells to these releases (comma list)")
	labels := fs.String("labels", "", "only cells with one of these labels (comma list), e.g. ci")
	name := fs.String("cell", "", "only cells whose name matches this glob, e.g. 'v0.2.0-*'")
	order := fs.String("order", "", "upgrade order: all-at-once, operator-first, backend-first, runner-only or a component list")
	overrides := fs.String("overrides", "", "replace images of the `to` release: component=image,… (PR gating)")
	manifests := fs.String("manifests-dir", "", "use rendered manifests kind-<version>.yaml from this directory for the releases it holds (e.g. ../shared/upstream-manifests)")
	remap := fs.String("image-remap", "", "rewrite image prefixes of every release: FROM=TO,… (e.g. quay.io/ambient_code=localhost/ambient-sim runs upstream manifests with the simulated images)")
	artifacts := fs.String("artifacts", envOr("ARTIFACTS", "_artifacts"), "where reports and failure bundles go")
	keep := fs.String("keep", "on-failure", "keep kind clusters: on-failure, always or never")
	kubeconfig := fs.String("kubeconfig", "", "run on this existing cluster instead of kind (KUBECONFIG too when -existing)")
	kctx := fs.String("context", "", "kubeconfig context of the existing cluster")
	existing := fs.Bool("existing", false, "run on the cluster of $KUBECONFIG instead of kind")
	clusterName := fs.String("cluster", "uh-matrix", "kind cluster to create or reuse")
	if err := badFlags(fs.Parse(args)); err != nil {
		return err
	}
	k, err := matrix.ParseKeep(*keep)
	if err != nil {
		return exitcode.BadInputErr(err)
	}
	in := matrix.Input{Catalog: *cat, CatalogDir: *catDir, Order: *order, Artifacts: *artifacts, Keep: k,
		Kubeconfig: *kubeconfig, Context: *kctx, ClusterName: *clusterName, Log: os.Stderr,
		Filter: catalog.Filter{From: splitList(*from), To: splitList(*to), Labels: splitList(*labels), Name: *name}}
	if *existing && in.Kubeconfig == "" {
		in.Kubeconfig = os.Getenv("KUBECONFIG")
		if in.Kubeconfig == "" {
			in.Kubeconfig = filepath.Join(os.Getenv("HOME"), ".kube", "config")
		}
	}
	if *overrides != "" {
		parsed, err := report.ParseOverrides(*overrides)
		if err != nil {
			return exitcode.BadInputErr(fmt.Errorf("-overrides: %w", err))
		}
		in.Overrides = map[catalog.Component]string{}
		for k, v := range parsed {
			in.Overrides[catalog.Component(k)] = v
		}
	}
	if *remap != "" {
		in.ImageRemap = map[string]string{}
		for _, pair := range splitList(*remap) {
			from, to, ok := strings.Cut(pair, "=")
			if !ok || from == "" || to == "" {
				return exitcode.BadInputErr(fmt.Errorf("-image-remap %q: want FROM=TO, e.g. quay.io/ambient_code=localhost/ambient-sim", pair))
			}
			in.ImageRemap[from] = to
		}
	}
	if *manifests != "" {
		in.ManifestOverride = &catalog.ManifestOverride{Dir: *manifests}
	}
	if in.Kubeconfig == "" {
		img, err := resolveNodeImage(ctx, "", false)
		if err != nil {
			return err
		}
		in.NodeImage = img
	} else if _, err := prepare.Engine(ctx, os.Stderr); err != nil {
		return err
	}
	out, err := matrix.Run(ctx, in)
	if err == nil && out.ExitCode != exitcode.OK {
		err = &exitcode.Error{Code: out.ExitCode, Err: fmt.Errorf("the matrix did not match its expectations")}
	}
	return err
}

func runImages(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	releases := fs.String("releases", "", "releases to build (default: every simulated release)")
	if err := badFlags(fs.Parse(args)); err != nil {
		return err
	}
	if _, err := prepare.Engine(ctx, os.Stderr); err != nil {
		return err
	}
	rels := splitList(*releases)
	if len(rels) == 0 {
		rels = release.Versions()
	}
	_, err := images.BuildSimulated(ctx, images.BuildInput{Releases: rels, Log: os.Stderr})
	return err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
