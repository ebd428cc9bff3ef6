// Command uh-wire is the harness's wire witness. It runs in a privileged
// hostNetwork pod on a kind node, captures the TCP traffic of the runner port
// on every interface of the node's network namespace (AF_PACKET, no libpcap,
// nothing from the node image) and prints one JSON line per HTTP request to
// a runner: method, path, status, header names and fingerprints of
// token-like headers, never a value or a body (harness/wire documents the
// lines). Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad flags, 3 the
// capture could not run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/wire"
)

func main() {
	def := wire.DefaultLimits
	port := flag.Int("port", wire.DefaultPort, "server port whose requests are captured (1-65535)")
	statsEvery := flag.Duration("stats-every", 10*time.Second, "how often a stats line is printed (at least 1s)")
	maxConns := flag.Int("max-conns", def.MaxConns, "connections tracked at once (1-1000000)")
	maxHead := flag.Int("max-head-bytes", def.MaxHeadBytes, "longest request or response head kept (1024-16777216)")
	maxBuffered := flag.Int("max-buffered-bytes", def.MaxBufferedBytes, "bytes held by all connections together (65536-1073741824)")
	responseTimeout := flag.Duration("response-timeout", def.ResponseTimeout, "a request unanswered this long is printed with status 0 (at least 1s)")
	node := flag.String("node", os.Getenv("NODE_NAME"), "node name for the ready line (default $NODE_NAME)")
	flag.Parse()
	for _, c := range []struct {
		flag     string
		val, min int
		max      int
	}{
		{"-port", *port, 1, 65535}, {"-max-conns", *maxConns, 1, 1_000_000},
		{"-max-head-bytes", *maxHead, 1024, 16 << 20}, {"-max-buffered-bytes", *maxBuffered, 64 << 10, 1 << 30},
	} {
		if c.val < c.min || c.val > c.max {
			fmt.Fprintf(os.Stderr, "uh-wire: %s %d: valid is %d to %d\n", c.flag, c.val, c.min, c.max)
			os.Exit(2)
		}
	}
	for _, d := range []struct {
		flag string
		val  time.Duration
	}{{"-stats-every", *statsEvery}, {"-response-timeout", *responseTimeout}} {
		if d.val < time.Second {
			fmt.Fprintf(os.Stderr, "uh-wire: %s %s: valid is 1s or more\n", d.flag, d.val)
			os.Exit(2)
		}
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "uh-wire: unexpected argument %q; it takes flags only\n", flag.Arg(0))
		os.Exit(2)
	}

	// SIGTERM (the pod's deletion) stops the capture; waiting requests are
	// printed before the last stats line.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := wire.Capture(ctx, wire.CaptureInput{
		Port: uint16(*port), StatsEvery: *statsEvery, Node: *node, Out: os.Stdout,
		Limits: wire.Limits{MaxConns: *maxConns, MaxHeadBytes: *maxHead, MaxBufferedBytes: *maxBuffered, ResponseTimeout: *responseTimeout},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "uh-wire: %v\n", err)
		_ = wire.WriteError(os.Stdout, err)
		os.Exit(3)
	}
}
