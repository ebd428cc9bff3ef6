// Package wire is the harness's wire witness: what each caller actually put
// on the wire to a runner, so diagnosis can tell "no header" from "another
// header name" from "the wrong token" (docs/platform.md §3.5).
//
// # Capture (harness/cmd/uh-wire)
//
// One privileged hostNetwork pod a node (kube-system, uh-wire-witness-*,
// label WitnessLabel) opens an AF_PACKET socket on every interface of the
// node's network namespace, with a kernel filter for TCP to or from port
// 8001 (the runner's). Nothing comes from the node image: the image is one
// static binary (images.BuildWire). Each direction of each connection is
// reassembled (out-of-order segments held, duplicates dropped) far enough to
// parse HTTP/1.1 heads; bodies are skipped by their framing and never kept.
// A connection is keyed by its client and server addresses. A call through
// a Service shows the ClusterIP on the caller's veth and the pod IP on the
// runner's: the second view is joined to the first by its sequence numbers
// (the client's SYN, or bytes within 1 MiB of where the first view is), so
// its copy of every segment is a duplicate (Stats.Duplicates), not a second
// request, while two connections sharing a client port towards two servers
// (the kubelet probing two runners) stay two.
//
// # Output: one JSON object a line on stdout
//
//   - {"kind":"ready",...}: the socket is open; the harness waits for it.
//   - {"kind":"request",...} (Request): one request. Emission is delayed:
//     a request is printed once its response head is seen (Status set), or
//     with Status 0 and Ended set when it waited ResponseTimeout (30 s), its
//     connection closed, or the witness stopped. So there is one line per
//     request, never a follow-up. Time is when its head's first segment was
//     seen. Path has no query. HeaderNames are every header name as sent;
//     TokenHeaders are the token-like ones (IsTokenLike: within edit distance
//     2 of X-Ambient-Session-Token or Authorization, case-insensitive, or a
//     name containing "token") with secrets.Fingerprint of the value after a
//     "Bearer " prefix (Bearer records that it had one). Never a value.
//   - {"kind":"stats",...} (Stats): every 5 s and last: packets, requests,
//     answers, drops by cause (Drops), and the process's CPU seconds, peak
//     RSS and its cgroup's memory, so a run can report the witness's cost.
//   - {"kind":"error",...}: the capture failed and is exiting (exit 3).
//
// Memory is bounded (Limits): 1,024 connections, 64 KiB a head (a larger one
// is dropped and counted, the stream picked up at its next head), 256 KiB
// out of order a direction, 32 MiB in all; the pod's limit is 96 MiB.
//
// # Into the ledger (Witness, started with the detectors)
//
// pipeline.WithWireWitness adds a Witness to detect.StartAll: started after
// the built-in detectors, stopped before them, sharing their
// detect.CallerResolver. Each request line becomes a ledger.Observation
// with Signal ledger.SignalWireRequest, Source "wire-witness:<node>", the
// caller (component, pod, image, so the ledger's release) resolved from the
// source IP at the request's time, the runner pod from whichever server IP a
// runner pod held, Method, Path, Status (0: no answer seen) and Wire
// (header names, token-header fingerprints, SrcIP, DstIP).
//
// When the witness cannot run on a node (the image cannot be loaded,
// privileged pods are refused, the container does not start, the capture
// fails or dies mid-cell) the harness prints one line and records one
// ledger.Observation with Signal ledger.SignalWireUnavailable, Source
// "wire-witness" and Detail saying on which node, why, and that diagnosis
// falls back to the runner probe; from its Time on, that node's requests
// are missing. It is not a SignalGap: the witness is evidence for diagnosis,
// never a reason for an inconclusive verdict. Diagnosis must treat "no
// wire-request for a caller" as "no header" only when no wire-unavailable
// entry covers the time.
//
// On Stop the pods are deleted (SIGTERM): each capture prints the requests
// still waiting and a last stats line before it exits, and the harness logs
// per node the requests captured against the runner access lines logged
// while that capture ran, from its ready line to its last stats line, on the
// node's clock as the runners' logs are (Witness.Summary, CountAccess). Not
// counted, and named in the line: access lines from before the ready line or
// after the last line (no capture ran then), and the harness's own
// port-forwarded calls, which reach a runner on its pod's loopback and never
// cross the node's interfaces. The line also gives the requests still in
// flight at the stop, the worst read lag (how long after its answer a
// request reached the ledger) and the capture's cost (Witness.Stats).
package wire
