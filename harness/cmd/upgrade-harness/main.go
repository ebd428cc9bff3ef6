// Command upgrade-harness is the harness's one entry point: container engine
// readiness, the offline node image, kind clusters, simulated images and the
// upgrade matrix. Exit codes: 0 ok, 1 regression, 2 bad input, 3 infrastructure
// (harness/cmd/exitcode, from the kind of the error a command returned:
// harness/fault); 130 and 143 after SIGINT and SIGTERM (harness/interrupt).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/interrupt"
)

// commands are the subcommands by name; each file registers its own.
var commands = map[string]*commandSpec{}

// register adds a command; run is set here, not in the spec's literal, since
// run reads the spec (its flag table).
func register(spec *commandSpec, run func(ctx context.Context, args []string) error) {
	spec.run = run
	commands[spec.name] = spec
}

func main() {
	// API deprecation warnings (v1 Endpoints, ...) are noise in progress output.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	// SIGINT/SIGTERM cancel ctx with the signal as its cause: every phase stops
	// and cleans up, the reports keep what was decided, the exit code is the
	// signal's; a second signal exits at once.
	ctx, stop := interrupt.Notify(context.Background(), interrupt.Options{Log: os.Stderr})
	if len(os.Args) < 2 {
		usage(os.Stderr)
		stop()
		os.Exit(exitcode.BadInput)
	}
	if code, done := topLevelHelp(os.Stdout, os.Stderr, os.Args[1:]); done {
		stop()
		os.Exit(code)
	}
	cmd := commands[os.Args[1]]
	err := cmd.run(ctx, os.Args[2:])
	code := exitCode(ctx, os.Args[1], err)
	stop()
	os.Exit(code)
}

// exitCode is the one place the process's exit code is decided, from what
// the command returned: an interrupted run exits with the signal's code
// whatever the command made of it (so CI and shells never read it as a
// verdict); asked-for help is 0; otherwise the error's type says it (its code:
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
	if errors.Is(err, errHelp) {
		return exitcode.OK // the help was asked for and printed
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "upgrade-harness %s: %v\n", name, err)
	}
	return exitcode.Of(err)
}

// reportedExit is the exit code a command's reports state: the one exitCode
// will give the process, so an interrupted run's headline says 130 or 143,
// not what the cut-short cells would have made of it.
func reportedExit(ctx context.Context) func(error) int {
	return func(err error) int {
		if ie, ok := interrupt.Of(ctx); ok {
			return ie.ExitCode()
		}
		return exitcode.Of(err)
	}
}

// topLevelHelp answers -h, help and help COMMAND, and refuses an unknown
// command; done is false when args name a command to run.
func topLevelHelp(stdout, stderr io.Writer, args []string) (code int, done bool) {
	switch a := args[0]; {
	case a == "-h" || a == "-help" || a == "--help" || a == "help":
		if len(args) == 1 || a != "help" {
			usage(stdout)
			return exitcode.OK, true
		}
		if spec, ok := commands[args[1]]; ok && len(args) == 2 {
			printHelp(stdout, spec, spec.name)
			return exitcode.OK, true
		}
		fmt.Fprintf(stderr, "upgrade-harness help: %q is not a command (want help and one of %s)\n", cut(strings.Join(args[1:], " ")), strings.Join(commandNames(), ", "))
		return exitcode.BadInput, true
	case commands[a] == nil:
		fmt.Fprintf(stderr, "upgrade-harness: unknown command %q (want one of %s; see upgrade-harness -h)\n", cut(a), strings.Join(commandNames(), ", "))
		return exitcode.BadInput, true
	}
	return 0, false
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: upgrade-harness <command> [flags]

Runs Kubernetes upgrade cells of the ambient-code platform on kind clusters and
says whether a runner pod ever answered 401 or a session broke. Start with
"upgrade-harness matrix -dry-run" (what would run) and "upgrade-harness matrix".

commands:`)
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nupgrade-harness help COMMAND (or COMMAND -h) says what it does, its inputs, outputs and flags.\n%s\n", exitCodesHelp)
}
