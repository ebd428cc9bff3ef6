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
		stop()
		os.Exit(exitcode.BadInput)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "upgrade-harness: unknown command %q\n", os.Args[1])
		usage()
		stop()
		os.Exit(exitcode.BadInput)
	}
	err := cmd.run(ctx, os.Args[2:])
	code := exitCode(ctx, os.Args[1], err)
	stop()
	os.Exit(code)
}

// exitCode is the one place the process's exit code is decided, from what
// the command returned: an interrupted run exits with the signal's code
// whatever the command made of it (so CI and shells never read it as a
// verdict); -h is bad input; otherwise the error's type says it (its code:
// regression, bad input, infrastructure; an unexplained error is never a
// pass). It prints the error once.
func exitCode(ctx context.Context, name string, err error) int {
	if ie, ok := interrupt.Of(ctx); ok {
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ie) {
			fmt.Fprintf(os.Stderr, "upgrade-harness %s: %v\n", name, err)
		}
		fmt.Fprintf(os.Stderr, "upgrade-harness %s: %v (exit %d)\n", name, ie, ie.ExitCode())
		return ie.ExitCode()
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitcode.BadInput
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "upgrade-harness %s: %v\n", name, err)
	}
	return exitcode.Of(err)
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
