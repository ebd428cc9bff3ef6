package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
)

// tools are the host tools `tool` provides, by command, with their Debian package.
var tools = map[string]string{"shellcheck": "shellcheck"}

func init() {
	register("tool", "print the path of a host tool (shellcheck), installing its Debian package when missing (as root on Debian)", runTool)
}

func runTool(ctx context.Context, args []string) error {
	// The tool's name comes first, as a subcommand; no flags follow it.
	if len(args) == 0 || tools[args[0]] == "" {
		return exitcode.BadInputErr(fmt.Errorf("tool: want one of: shellcheck (got %q)", args))
	}
	fs := flag.NewFlagSet("tool "+args[0], flag.ContinueOnError)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	p, err := prepare.Tool(ctx, prepare.ToolInput{Command: args[0], DebianPackage: tools[args[0]], Log: os.Stderr})
	if err != nil {
		return err
	}
	fmt.Println(p)
	return nil
}
