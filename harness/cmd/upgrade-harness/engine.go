package main

import (
	"context"
	"flag"
	"os"

	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
)

func init() {
	register("engine", "make sure a Docker engine that runs privileged containers is up (installs and starts one as root on Debian)", runEngine)
}

func runEngine(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("engine", flag.ContinueOnError)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, err := prepare.Engine(ctx, os.Stderr)
	return err
}
