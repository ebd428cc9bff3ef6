package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/nodeimage"
)

func init() {
	register("cluster", "kind clusters: up, down, list, clean (-name NAME; clean removes every uh-* cluster)", runCluster)
}

func runCluster(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return exitcode.BadInputErr(fmt.Errorf("cluster: want one of up, down, list, clean"))
	}
	fs := flag.NewFlagSet("cluster "+args[0], flag.ContinueOnError)
	name := fs.String("name", cluster.Name("dev"), "kind cluster name (harness clusters start with "+cluster.NamePrefix+")")
	if err := badFlags(fs.Parse(args[1:])); err != nil {
		return err
	}
	switch args[0] {
	case "up":
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
	default:
		return exitcode.BadInputErr(fmt.Errorf("cluster: unknown action %q (want up, down, list, clean)", args[0]))
	}
	return nil
}
