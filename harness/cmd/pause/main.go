// Command pause is the pod sandbox process of the offline node image
// (registry.k8s.io/pause) and the harness's engine probe: it waits for SIGINT or
// SIGTERM and exits 0. With "-exit" it exits at once (used by `docker exec` probes).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-exit" {
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
