package main

import (
	"context"
	"os"

	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
)

func init() { register(engineCommand, runEngine) }

var engineCommand = &commandSpec{
	name:    "engine",
	summary: "make sure a Docker engine that runs privileged containers is up (installs and starts one as root on Debian)",
	description: `Checks that a Docker engine answers and runs privileged containers (what kind
needs); as root on Debian it installs and starts one when missing. Every command that
needs the engine runs this step itself.`,
	inputs:      "none (the docker CLI on PATH, $DOCKER_HOST).",
	outputs:     "what was found or done, on stderr.",
	makeTargets: []string{"engine"},
}

func runEngine(ctx context.Context, args []string) error {
	fv := newFlagValues(engineCommand, "engine")
	if err := fv.parse(args); err != nil {
		return err
	}
	_, err := prepare.Engine(ctx, os.Stderr)
	return err
}
