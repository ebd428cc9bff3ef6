// Command upgrade-harness is the harness's one entry point: container engine
// readiness, the offline node image, kind clusters, simulated images and the
// upgrade matrix. Exit codes: 0 ok, 1 regression, 2 bad input, 3 infrastructure
// (harness/exitcode); 130 and 143 after SIGINT and SIGTERM (harness/interrupt).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"

	"k8s.io/client-go/rest"

	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/interrupt"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string) error) {
	commands[name] = command{summary: summary, run: run}
}

func main() {
	// API deprecation warnings (v1 Endpoints, ...) are noise in progress output.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	// SIGINT/SIGTERM cancel ctx with the signal as its cause: every phase stops
	// and cleans up, the reports keep what was decided, the exit code is the
	// signal's; a second signal exits at once.
	ctx, stop := interrupt.Notify(context.Background(), interrupt.Options{Log: os.Stderr})
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(exitcode.BadInput)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "upgrade-harness: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(exitcode.BadInput)
	}
	err := cmd.run(ctx, os.Args[2:])
	// Whatever the command made of it, an interrupted run exits with the
	// signal's code, so CI and shells never read it as a verdict.
	if ie, ok := interrupt.Of(ctx); ok {
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ie) {
			fmt.Fprintf(os.Stderr, "upgrade-harness %s: %v\n", os.Args[1], err)
		}
		fmt.Fprintf(os.Stderr, "upgrade-harness %s: %v (exit %d)\n", os.Args[1], ie, ie.ExitCode())
		stop()
		os.Exit(ie.ExitCode())
	}
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(exitcode.BadInput)
		}
		fmt.Fprintf(os.Stderr, "upgrade-harness %s: %v\n", os.Args[1], err)
	}
	os.Exit(exitcode.Of(err))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: upgrade-harness <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nexit codes: 0 ok, 1 regression found, 2 bad input, 3 infrastructure failed, 130 interrupted (SIGINT), 143 terminated (SIGTERM)")
}
