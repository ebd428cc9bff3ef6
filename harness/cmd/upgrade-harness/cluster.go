package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

func init() { register(clusterCommand, runCluster) }

var clusterCommand = &commandSpec{
	name:    "cluster",
	summary: "kind clusters: up, down, list, clean (-name NAME; clean removes every uh-* cluster no run holds)",
	args:    "up|down|list|clean",
	description: `Manages the harness's kind clusters by hand: up creates (or reuses) one on the
offline node image ($NODE_IMAGE wins), down deletes one, list prints the harness's clusters
(names starting with ` + cluster.NamePrefix + `), clean deletes all of them.`,
	inputs:  "the action, then -name for up and down; $NODE_IMAGE for up.",
	outputs: "up: the kubectl command that reaches the cluster, on stdout; list: one name a line; progress on stderr.",
	flags: []flagSpec{{name: "name", def: cluster.Name("dev"), arg: "NAME", makeVar: "CLUSTER",
		usage: "kind cluster name for up and down (harness clusters start with " + cluster.NamePrefix + ")"}},
	makeTargets: []string{"cluster", "cluster-down"},
}

var clusterActions = []string{"up", "down", "list", "clean"}

// holdCluster claims a run's kind cluster before anything slow (engine, node
// image): a cluster another run uses is refused at once (exit 2, naming that
// run's pid). Nothing is held for an existing cluster (-kubeconfig).
func holdCluster(name, kubeconfig string) error {
	if kubeconfig != "" || name == "" {
		return nil
	}
	_, err := cluster.Acquire(name)
	return err
}

// watchNodes ends the run (exit 3) when a node container of a cluster it
// holds disappears, as engine.Watch does for the engine.
func watchNodes(ctx context.Context) (context.Context, func()) {
	return cluster.WatchNodes(ctx, cluster.WatchNodesInput{Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
}

// watchCause is the watches' reason for ending the run, if one ended it: it
// says more than the errors of the calls it cut short.
func watchCause(ctx context.Context) error {
	cause := context.Cause(ctx)
	var ue *engine.UnreachableError
	var ng *cluster.NodeGoneError
	if errors.As(cause, &ue) || errors.As(cause, &ng) {
		return cause
	}
	return nil
}

func runCluster(ctx context.Context, args []string) error {
	if len(args) > 0 && isHelpArg(args[0]) {
		printHelp(os.Stdout, clusterCommand, "cluster")
		return errHelp
	}
	if len(args) == 0 || !slices.Contains(clusterActions, args[0]) {
		got := "nothing"
		if len(args) > 0 {
			got = fmt.Sprintf("%q", cut(args[0]))
		}
		return fault.BadInputErr(fmt.Errorf("got %s (want an action first: %s, e.g. cluster up -name %s; see upgrade-harness cluster -h)", got, strings.Join(clusterActions, ", "), cluster.Name("dev")))
	}
	fv := newFlagValues(clusterCommand, "cluster "+args[0])
	if err := fv.parse(args[1:]); err != nil {
		return err
	}
	name := fv.str("name")
	if args[0] == "list" || args[0] == "clean" {
		if fv.isSet("name") {
			return fault.BadInputErr(fmt.Errorf("%s: -name %q does not apply (%s works on every %s* cluster; want cluster down -name %s for one)", args[0], name, args[0], cluster.NamePrefix, name))
		}
	} else if err := cluster.CheckName(name); err != nil {
		return fault.BadInputErr(fmt.Errorf("-name: %w", err))
	}
	switch args[0] {
	case "up":
		if err := checkNodeImageEnv(); err != nil {
			return err
		}
		if err := holdCluster(name, ""); err != nil {
			return err
		}
		img, err := resolveNodeImage(ctx, "", false)
		if err != nil {
			return err
		}
		c := cluster.New(name, cluster.WithImage(img))
		if _, err := c.Create(ctx); err != nil {
			return fault.InfraErr(err)
		}
		fmt.Printf("kubectl --kubeconfig %s --context %s get nodes\n", c.GetKubeconfig(), c.GetKubectlContext())
	case "down":
		// Told to: down takes the cluster over, unless a run holds it.
		if err := cluster.New(name, cluster.WithTakeOver()).Destroy(ctx); err != nil {
			if fault.KindOf(err) == fault.KindBadInput {
				return err
			}
			return fault.InfraErr(err)
		}
	case "list":
		names, err := cluster.ListHarnessClusters()
		if err != nil {
			return fault.InfraErr(withEngineOutput(err))
		}
		for _, n := range names {
			fmt.Println(n)
		}
	case "clean":
		names, err := cluster.ListHarnessClusters()
		if err != nil {
			return fault.InfraErr(withEngineOutput(err))
		}
		removed := 0
		for _, n := range names {
			err := cluster.New(n, cluster.WithTakeOver()).Destroy(ctx)
			var iu *cluster.InUseError
			if errors.As(err, &iu) {
				// A run is using it: not ours to remove.
				fmt.Fprintf(os.Stderr, "[cluster] skipping %v\n", err)
				continue
			}
			if err != nil {
				return fault.InfraErr(err)
			}
			removed++
		}
		fmt.Fprintf(os.Stderr, "[cluster] removed %d harness clusters\n", removed)
	}
	return nil
}

// withEngineOutput adds what the failed docker (or podman) command printed to
// err: kind keeps it apart, and without it "exit status 1" loses the cause.
func withEngineOutput(err error) error {
	var re *kindexec.RunError
	if !errors.As(err, &re) {
		return err
	}
	out := strings.TrimSpace(string(re.Output))
	if out == "" {
		return err
	}
	if len(out) > 2000 {
		out = out[:2000] + fmt.Sprintf("… (%d bytes)", len(re.Output))
	}
	return fmt.Errorf("%w: %s", err, out)
}

func isHelpArg(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }
