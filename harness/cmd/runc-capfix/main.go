// Command runc-capfix is an OCI runtime wrapper for hosts whose capability
// bounding set lacks CAP_SYS_RESOURCE (some VMs). Privileged containers (kind
// nodes) ask runc for every capability; runc then fails with "unable to apply
// caps: operation not permitted". The wrapper deletes CAP_SYS_RESOURCE from the
// bundle's config.json (create/run) and from the --process file (exec), then
// executes the real runc with the same arguments.
//
// It is installed and registered by `upgrade-harness engine ensure` only when a
// privileged probe container fails that way (see harness/env/engine).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ambient-e2e/upgrade-harness/harness/env/capfix"
)

func main() {
	args := os.Args[1:]
	for _, f := range capfix.FilesToPatch(args) {
		if err := capfix.PatchFile(f.Path, f.Kind); err != nil {
			fmt.Fprintf(os.Stderr, "runc-capfix: %v\n", err)
			os.Exit(1)
		}
	}
	real, err := capfix.RealRunc(selfPath())
	if err != nil {
		fmt.Fprintf(os.Stderr, "runc-capfix: %v\n", err)
		os.Exit(1)
	}
	err = syscall.Exec(real, append([]string{"runc"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "runc-capfix: exec %s: %v\n", real, err)
	os.Exit(1)
}

func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}
