package main

import (
	"context"
	"fmt"
	"os"

	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

// tools are the host tools `tool` provides, by command, with their Debian package.
var tools = map[string]string{"shellcheck": "shellcheck"}

func init() { register(toolCommand, runTool) }

var toolCommand = &commandSpec{
	name:    "tool",
	summary: "print the path of a host tool (shellcheck), installing its Debian package when missing (as root on Debian)",
	args:    "shellcheck",
	description: `Prints the path of a host tool the project's checks use, installing its Debian
package first when it is missing (as root on Debian; elsewhere it says what to install).`,
	inputs:      "the tool's name: shellcheck.",
	outputs:     "the tool's path on stdout; installation progress on stderr.",
	makeTargets: []string{"lint-scripts"},
}

func runTool(ctx context.Context, args []string) error {
	if len(args) > 0 && isHelpArg(args[0]) {
		printHelp(os.Stdout, toolCommand, "tool")
		return errHelp
	}
	// The tool's name comes first, as a subcommand; no flags follow it.
	if len(args) == 0 || tools[args[0]] == "" {
		got := "nothing"
		if len(args) > 0 {
			got = fmt.Sprintf("%q", cut(args[0]))
		}
		return fault.BadInputErr(fmt.Errorf("got %s (want a tool name: shellcheck; see upgrade-harness tool -h)", got))
	}
	fv := newFlagValues(toolCommand, "tool "+args[0])
	if err := fv.parse(args[1:]); err != nil {
		return err
	}
	p, err := prepare.Tool(ctx, prepare.ToolInput{Command: args[0], DebianPackage: tools[args[0]], Log: os.Stderr})
	if err != nil {
		return err
	}
	fmt.Println(p)
	return nil
}
