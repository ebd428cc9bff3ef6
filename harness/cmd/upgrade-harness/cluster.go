package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/nodeimage"
)

func init() {
	register("cluster", "kind clusters: up, down, list, clean (-name NAME; clean removes every uh-* cluster)", runCluster)
}

var clusterActions = []string{"up", "down", "list", "clean"}

func runCluster(ctx context.Context, args []string) error {
	if len(args) == 0 || !slices.Contains(clusterActions, args[0]) {
		got := "nothing"
		if len(args) > 0 {
			got = fmt.Sprintf("%q", args[0])
		}
		return exitcode.BadInputErr(fmt.Errorf("got %s (want an action first: %s, e.g. cluster up -name %s)", got, strings.Join(clusterActions, ", "), cluster.Name("dev")))
	}
	fs := flag.NewFlagSet("cluster "+args[0], flag.ContinueOnError)
	name := fs.String("name", cluster.Name("dev"), "kind cluster name (harness clusters start with "+cluster.NamePrefix+")")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if args[0] == "list" || args[0] == "clean" {
		if isSet(fs, "name") {
			return exitcode.BadInputErr(fmt.Errorf("%s: -name %q does not apply (%s works on every %s* cluster; want cluster down -name %s for one)", args[0], *name, args[0], cluster.NamePrefix, *name))
		}
	} else if err := cluster.CheckName(*name); err != nil {
		return exitcode.BadInputErr(fmt.Errorf("-name: %w", err))
	}
	switch args[0] {
	case "up":
		if err := checkNodeImageEnv(); err != nil {
			return err
		}
		img, err := resolveNodeImage(ctx, nodeimage.DefaultRecipe().KubernetesVersion, false)
		if err != nil {
			return err
		}
		c := cluster.New(*name, cluster.WithImage(img))
		if _, err := c.Create(ctx); err != nil {
			return exitcode.InfraErr(err)
		}
		fmt.Printf("kubectl --kubeconfig %s --context %s get nodes\n", c.GetKubeconfig(), c.GetKubectlContext())
	case "down":
		if err := cluster.New(*name).Destroy(ctx); err != nil {
			return exitcode.InfraErr(err)
		}
	case "list":
		names, err := cluster.ListHarnessClusters()
		if err != nil {
			return exitcode.InfraErr(err)
		}
		for _, n := range names {
			fmt.Println(n)
		}
	case "clean":
		names, err := cluster.ListHarnessClusters()
		if err != nil {
			return exitcode.InfraErr(err)
		}
		for _, n := range names {
			if err := cluster.New(n).Destroy(ctx); err != nil {
				return exitcode.InfraErr(err)
			}
		}
		fmt.Fprintf(os.Stderr, "[cluster] removed %d harness clusters\n", len(names))
	}
	return nil
}
