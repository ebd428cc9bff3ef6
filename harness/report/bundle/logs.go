package bundle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// LogSource streams a container's log with kubelet timestamps (each line
// starts with an RFC 3339 time and a space). Tests feed lines through it.
type LogSource interface {
	ContainerLogs(ctx context.Context, namespace, pod, container string, previous bool) (io.ReadCloser, error)
}

type clientLogSource struct{ client kubernetes.Interface }

// NewClientLogSource reads logs through the API server (pods/log).
func NewClientLogSource(client kubernetes.Interface) LogSource { return clientLogSource{client} }

func (s clientLogSource) ContainerLogs(ctx context.Context, namespace, pod, container string, previous bool) (io.ReadCloser, error) {
	return s.client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, Timestamps: true,
	}).Stream(ctx)
}

// isNoPreviousContainer matches the API server's answer for a container that
// never restarted: "previous terminated container "x" in pod "y" not found".
func isNoPreviousContainer(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "previous terminated container") && strings.Contains(msg, "not found")
}

// isNotStarted matches a container that has no log yet, e.g. one stuck in
// CreateContainerConfigError (docs/platform.md §8.8) — evidence, not a collection failure.
func isNotStarted(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "is waiting to start") || strings.Contains(msg, "ContainerCreating")
}

func (c *collector) collectLogs(ctx context.Context, ns string) {
	item := filepath.ToSlash(filepath.Join(LogsDir, ns))
	if c.stopped(ctx, item) {
		return
	}
	pods, err := c.in.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.fail(item, fmt.Errorf("list pods in %s: %w", ns, err))
		return
	}
	for _, pod := range pods.Items {
		var containers []string
		for _, ct := range pod.Spec.InitContainers {
			containers = append(containers, ct.Name)
		}
		for _, ct := range pod.Spec.Containers {
			containers = append(containers, ct.Name)
		}
		for _, ct := range pod.Spec.EphemeralContainers {
			containers = append(containers, ct.Name)
		}
		for _, container := range containers {
			if c.stopped(ctx, item+"/"+pod.Name+"/"+container) {
				return
			}
			c.collectContainerLog(ctx, ns, pod.Name, container, false)
			c.collectContainerLog(ctx, ns, pod.Name, container, true)
		}
	}
}

func (c *collector) collectContainerLog(ctx context.Context, ns, pod, container string, previous bool) {
	base := filepath.Join(LogsDir, ns, pod, container)
	if previous {
		base += ".previous"
	}
	item := filepath.ToSlash(base)
	stream, err := c.in.Logs.ContainerLogs(ctx, ns, pod, container, previous)
	if err != nil {
		switch {
		case previous && isNoPreviousContainer(err):
			// Most containers never restarted; nothing to record.
		case isNotStarted(err):
			c.note("%s: no log: %v", item, err)
		default:
			c.fail(item, fmt.Errorf("fetch log: %w", err))
		}
		return
	}
	defer stream.Close()
	if err := c.writeSplitLog(base, stream); err != nil {
		c.fail(item, err)
	}
}

// writeSplitLog writes each redacted line to base+".before.log" or
// base+".after.log" by its kubelet timestamp. A line without a timestamp
// (a wrapped continuation) follows the line before it.
func (c *collector) writeSplitLog(base string, r io.Reader) (err error) {
	full := filepath.Join(c.in.Dir, base)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	before, err := os.Create(full + BeforeLogSuffix)
	if err != nil {
		return err
	}
	defer closeInto(before, &err)
	after, err := os.Create(full + AfterLogSuffix)
	if err != nil {
		return err
	}
	defer closeInto(after, &err)
	c.summary.Files = append(c.summary.Files, filepath.ToSlash(base+BeforeLogSuffix), filepath.ToSlash(base+AfterLogSuffix))

	bw, aw := bufio.NewWriter(before), bufio.NewWriter(after)
	out := bw
	split := c.in.UpgradeStarted
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, readErr := br.ReadString('\n')
		if line != "" {
			if ts, ok := lineTime(line); ok && !split.IsZero() {
				if ts.Before(split) {
					out = bw
				} else {
					out = aw
				}
			}
			if _, err := out.WriteString(c.red.Redact(line)); err != nil {
				return err
			}
		}
		if readErr == io.EOF {
			break
		}
		if readErr != nil {
			// Keep what was read; say where the log was cut.
			fmt.Fprintf(out, "\n[bundle: log stream broken: %v]\n", c.red.Redact(readErr.Error()))
			if err := flushBoth(bw, aw); err != nil {
				return err
			}
			return fmt.Errorf("read log: %w", readErr)
		}
	}
	return flushBoth(bw, aw)
}

func lineTime(line string) (time.Time, bool) {
	first, _, ok := strings.Cut(line, " ")
	if !ok {
		first = strings.TrimRight(line, "\r\n")
	}
	ts, err := time.Parse(time.RFC3339Nano, first)
	return ts, err == nil
}

func flushBoth(a, b *bufio.Writer) error { return errors.Join(a.Flush(), b.Flush()) }

func closeInto(f *os.File, err *error) {
	if cerr := f.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}
