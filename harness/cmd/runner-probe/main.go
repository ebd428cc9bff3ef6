// Command runner-probe is the harness's black-box runner probe. It runs in a
// short-lived pod in the platform namespace (where the runner NetworkPolicy
// admits callers) under the backend's ServiceAccount, reads each session's
// token Secret itself through the API server, calls each runner pod directly
// (harness/diagnose/probe lists the requests) and prints one report line per
// runner: statuses, Secret key names and token fingerprints, never a value.
// Exit codes: 0 probed (whatever the runners answered), 2 bad arguments, 3 no
// API access.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ambient-e2e/upgrade-harness/harness/diagnose/probe"
)

func main() {
	targets := flag.String("targets", "", "JSON list of runner pods to probe (harness/diagnose/probe.Target)")
	timeout := flag.Duration("timeout", 40*time.Second, "bound on the whole probe")
	flag.Parse()
	ts, err := probe.DecodeTargets(*targets)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runner-probe: %v\n", err)
		os.Exit(2)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runner-probe: in-cluster config: %v\n", err)
		os.Exit(3)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runner-probe: client: %v\n", err)
		os.Exit(3)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	reports := probe.Run(ctx, probe.RunInput{Targets: ts, ReadSecret: func(ctx context.Context, ns, name string) (map[string][]byte, error) {
		s, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return s.Data, nil
	}})
	if err := probe.Encode(os.Stdout, reports); err != nil {
		fmt.Fprintf(os.Stderr, "runner-probe: %v\n", err)
		os.Exit(3)
	}
	fmt.Fprintf(os.Stderr, "runner-probe: probed %d runner(s)\n", len(reports))
}
