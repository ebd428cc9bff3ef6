// Package cluster is an e2e-framework cluster provider over kind's Go library
// (sigs.k8s.io/kind/pkg/cluster), not the kind CLI: create or reuse a cluster by
// name, wait until the node is Ready and CoreDNS runs, load local images, export
// logs, delete. Every cluster the harness makes is named with NamePrefix so that
// leftovers can be found and removed.
package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

// NamePrefix marks clusters made by the harness (make clean-clusters removes them).
const NamePrefix = "uh-"

var invalidName = regexp.MustCompile(`[^a-z0-9-]+`)

// Name returns the harness cluster name for a purpose, e.g. Name("e2e") = "uh-e2e".
func Name(purpose string) string {
	s := invalidName.ReplaceAllString(strings.ToLower(purpose), "-")
	s = strings.Trim(s, "-")
	if s == "" {
		s = "cluster"
	}
	n := NamePrefix + s
	if len(n) > 40 { // kind names become container names and DNS labels
		n = strings.TrimRight(n[:40], "-")
	}
	return n
}

var validName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// CheckName reports whether name can be a kind cluster's name (it becomes
// container names and DNS labels), as bad input naming what is valid.
func CheckName(name string) error {
	if len(name) > 40 || !validName.MatchString(name) {
		return fault.BadInputErr(fmt.Errorf("%q is not a kind cluster name (want lowercase letters, digits and '-', at most 40 characters, e.g. %s)", name, Name("dev")))
	}
	return nil
}

// IsHarnessCluster reports whether a kind cluster name was made by the harness.
func IsHarnessCluster(name string) bool { return strings.HasPrefix(name, NamePrefix) }

// Cluster is a kind cluster driven through kind's library.
type Cluster struct {
	name          string
	image         string
	kubeconfigDir string
	waitForReady  time.Duration
	log           io.Writer
	provider      kindProvider
	kubeconfig    string
	rest          *rest.Config
	created       bool // this process created it (vs reused)
	deleted       bool // this handle deleted it: a later Destroy has nothing to do
	// takeOver: the caller was told to own this cluster (cluster down), so
	// Destroy deletes it although this process did not create it.
	takeOver bool
	hold     *Hold
}

var (
	_ support.E2EClusterProvider                = (*Cluster)(nil)
	_ support.E2EClusterProviderWithImageLoader = (*Cluster)(nil)
)

// kindProvider is what the harness uses of kind's cluster provider; unit
// tests replace it.
type kindProvider interface {
	Create(name string, options ...kindcluster.CreateOption) error
	Delete(name, explicitKubeconfigPath string) error
	List() ([]string, error)
	ExportKubeConfig(name, explicitPath string, internal bool) error
	KubeConfig(name string, internal bool) (string, error)
	CollectLogs(name, dir string) error
	ListInternalNodes(name string) ([]nodes.Node, error)
}

// Option configures a Cluster.
type Option func(*Cluster)

// WithImage sets the node image (e.g. the offline image, or kindest/node:v1.33.x).
func WithImage(image string) Option { return func(c *Cluster) { c.image = image } }

// WithKubeconfigDir sets where kubeconfig files are written (one per cluster).
func WithKubeconfigDir(dir string) Option { return func(c *Cluster) { c.kubeconfigDir = dir } }

// WithWaitForReady bounds the wait for the control plane.
func WithWaitForReady(d time.Duration) Option { return func(c *Cluster) { c.waitForReady = d } }

// WithLog sets where progress lines go.
func WithLog(w io.Writer) Option { return func(c *Cluster) { c.log = w } }

// WithTakeOver makes Destroy delete the cluster although this process did not
// create it (it still refuses one another run holds). Without it, a run
// deletes only the clusters it created.
func WithTakeOver() Option { return func(c *Cluster) { c.takeOver = true } }

// New returns a kind cluster provider named name.
func New(name string, opts ...Option) *Cluster {
	c := &Cluster{name: name}
	for _, o := range opts {
		o(c)
	}
	c.SetDefaults()
	return c
}

// SetDefaults implements support.E2EClusterProvider.
func (c *Cluster) SetDefaults() support.E2EClusterProvider {
	if c.log == nil {
		c.log = os.Stderr
	}
	if c.waitForReady == 0 {
		c.waitForReady = 3 * time.Minute
	}
	if c.kubeconfigDir == "" {
		c.kubeconfigDir = DefaultKubeconfigDir()
	}
	if c.provider == nil {
		c.provider = kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(kindlog.NoopLogger{}))
	}
	return c
}

// DefaultKubeconfigDir keeps harness kubeconfigs out of ~/.kube/config, so that
// creating a cluster never switches the user's current context.
func DefaultKubeconfigDir() string {
	if d := os.Getenv("UPGRADE_HARNESS_CACHE"); d != "" {
		return filepath.Join(d, "kubeconfig")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "upgrade-harness", "kubeconfig")
	}
	return filepath.Join(os.TempDir(), "upgrade-harness-kubeconfig")
}

// UseImage sets the node image of a cluster not yet created (e.g. once the
// suite's node image is known, from a support.ClusterOpts).
func (c *Cluster) UseImage(image string) { c.image = image }

// WithName implements support.E2EClusterProvider.
func (c *Cluster) WithName(name string) support.E2EClusterProvider { c.name = name; return c }

// WithVersion implements support.E2EClusterProvider: a version selects the
// upstream kindest/node image unless an image was set explicitly.
func (c *Cluster) WithVersion(version string) support.E2EClusterProvider {
	if c.image == "" && version != "" {
		c.image = "kindest/node:" + version
	}
	return c
}

// WithPath implements support.E2EClusterProvider; the library needs no binary.
func (c *Cluster) WithPath(string) support.E2EClusterProvider { return c }

// WithOpts implements support.E2EClusterProvider.
func (c *Cluster) WithOpts(opts ...support.ClusterOpts) support.E2EClusterProvider {
	for _, o := range opts {
		o(c)
	}
	return c
}

// Name returns the kind cluster name.
func (c *Cluster) Name() string { return c.name }

// ControlPlaneContainer is the engine container of the cluster's control-plane
// node (kind names it <cluster>-control-plane), where kube-apiserver runs.
func (c *Cluster) ControlPlaneContainer() string { return c.name + "-control-plane" }

// Image returns the node image.
func (c *Cluster) Image() string { return c.image }

// Created reports whether this process created the cluster (false: reused).
func (c *Cluster) Created() bool {
	if c.created {
		return true
	}
	h := c.hold
	if h == nil {
		h = holding(c.name)
	}
	return h != nil && h.isCreated()
}

// Hold claims the cluster's name for this process (Create does it too): a
// run calls it before anything slow so that a cluster in use by another run
// is refused at once, as bad input naming the holder.
func (c *Cluster) Hold() error {
	if c.hold != nil {
		return nil
	}
	h, err := Acquire(c.name)
	if err != nil {
		return err
	}
	c.hold = h
	return nil
}

// Create creates the cluster, or reuses a running one of the same name.
func (c *Cluster) Create(ctx context.Context, args ...string) (string, error) {
	return c.create(ctx, nil)
}

// CreateWithConfig creates the cluster from a kind config file.
func (c *Cluster) CreateWithConfig(ctx context.Context, configFile string) (string, error) {
	raw, err := os.ReadFile(configFile)
	if err != nil {
		return "", err
	}
	return c.create(ctx, raw)
}

func (c *Cluster) create(ctx context.Context, rawConfig []byte) (string, error) {
	if err := os.MkdirAll(c.kubeconfigDir, 0o700); err != nil {
		return "", err
	}
	c.kubeconfig = filepath.Join(c.kubeconfigDir, c.name+".yaml")
	// Before looking at it: a cluster another run holds is neither reused
	// (its reset would delete that run's namespaces) nor deleted.
	if err := c.Hold(); err != nil {
		return "", err
	}
	exists, err := c.exists()
	if err != nil {
		return "", err
	}
	start := time.Now()
	if exists {
		if why := c.notReusable(ctx); why != "" {
			// A cluster whose node containers stopped or were restarted by the
			// engine (machine or dockerd restart, CI after a session) cannot be
			// reused: kubelet and the node's routes do not come back whole.
			fmt.Fprintf(c.log, "[cluster] %s exists but %s: recreating it\n", c.name, why)
			if err := c.provider.Delete(c.name, c.kubeconfig); err != nil {
				return "", fmt.Errorf("deleting cluster %s: %w", c.name, err)
			}
			exists = false
		}
	}
	if exists {
		fmt.Fprintf(c.log, "[cluster] reusing kind cluster %s\n", c.name)
		if err := c.provider.ExportKubeConfig(c.name, c.kubeconfig, false); err != nil {
			return "", fmt.Errorf("kubeconfig of existing cluster %s: %w", c.name, err)
		}
	} else {
		fmt.Fprintf(c.log, "[cluster] creating kind cluster %s with node image %s\n", c.name, c.image)
		opts := []kindcluster.CreateOption{
			kindcluster.CreateWithKubeconfigPath(c.kubeconfig),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		}
		if c.image != "" {
			opts = append(opts, kindcluster.CreateWithNodeImage(c.image))
		}
		if rawConfig != nil {
			opts = append(opts, kindcluster.CreateWithRawConfig(rawConfig))
		}
		if err := c.createKind(ctx, opts); err != nil {
			return "", fmt.Errorf("kind create cluster %s (image %s): %w", c.name, c.image, err)
		}
		c.created = true
		c.hold.markCreated()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return "", err
	}
	// Detectors, traffic and bundles make many calls; the default 5 QPS would
	// delay them and with them the ledger.
	cfg.QPS, cfg.Burst = 50, 100
	c.rest = cfg
	if err := c.WaitForControlPlane(ctx, nil); err != nil {
		return "", err
	}
	// From now on a node container that disappears ends the run (WatchNodes).
	if nodes, err := ContainersOf(ctx, c.name); err == nil && len(nodes) > 0 {
		c.hold.watch(nodes)
	}
	fmt.Fprintf(c.log, "[cluster] %s ready in %s (kubectl --kubeconfig %s --context %s)\n", c.name, time.Since(start).Round(100*time.Millisecond), c.kubeconfig, c.GetKubectlContext())
	return c.kubeconfig, nil
}

// createKind runs kind's create, which takes no context and runs for tens of
// seconds (node container, kubeadm init). When ctx ends first, whatever kind
// has made so far is deleted under it, which makes its next docker call fail
// and Create return; once it has returned, the cluster is deleted once more
// (a node container started between two deletions) with its kubeconfig.
func (c *Cluster) createKind(ctx context.Context, opts []kindcluster.CreateOption) error {
	done := make(chan error, 1)
	go func() { done <- c.provider.Create(c.name, opts...) }()
	remove := func() { _ = c.provider.Delete(c.name, c.kubeconfig) }
	var err error
	select {
	case err = <-done:
		if _, killed := killedDockerCall(err); !killed {
			return err
		}
		// A terminal's Ctrl-C reaches kind's docker child as well as the
		// harness: kind may return before the harness has taken the signal.
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
			return err
		}
		fmt.Fprintf(c.log, "[cluster] %v: the creation of %s stopped; deleting what kind made so far\n", context.Cause(ctx), c.name)
	case <-ctx.Done():
		fmt.Fprintf(c.log, "[cluster] %v: cutting the creation of %s short and deleting what kind made so far\n", context.Cause(ctx), c.name)
		remove()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
	wait:
		for {
			select {
			case err = <-done:
				break wait
			case <-tick.C:
				remove()
			}
		}
	}
	pending := ""
	if call, killed := killedDockerCall(err); killed && len(call) > 1 && call[1] == "run" {
		pending = argAfter(call, "--name")
		fmt.Fprintf(c.log, "[cluster] the signal killed `docker run` of %s: waiting until the engine has made it, to delete it (at most %s)\n", pending, pendingCreateWait)
	}
	c.removeUntilGone(context.WithoutCancel(ctx), remove, pending)
	os.Remove(c.kubeconfig)
	return context.Cause(ctx)
}

// pendingCreateWait bounds the wait for a node container whose `docker run` a
// signal killed: the engine still creates it, which with the node image's /var
// volume copied took up to 13 s on a loaded 2-core machine.
const pendingCreateWait = time.Minute

// removeUntilGone deletes the cluster until no container of it has shown up
// for two checks in a row (at most 2 minutes). pending names a node container
// whose `docker run` was killed: the engine completes the request without its
// client, so that container appears later, and the wait lasts until it has
// appeared and been deleted (at most pendingCreateWait).
func (c *Cluster) removeUntilGone(ctx context.Context, remove func(), pending string) {
	quiet := 0
	var left []string
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, false, func(ctx context.Context) (bool, error) {
		remove()
		var err error
		if left, err = ContainersOf(ctx, c.name); err == nil && len(left) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if pending != "" && slices.Contains(left, pending) {
			pending = "" // it exists now: the next deletions remove it
		}
		if pending != "" && time.Since(start) < pendingCreateWait {
			return false, nil
		}
		return quiet >= 2, nil
	})
	if err != nil {
		fmt.Fprintf(c.log, "[cluster] %s: containers %v still there 2 minutes after the interrupted create (delete them with: upgrade-harness cluster down -name %s)\n", c.name, left, c.name)
	}
}

// killedDockerCall returns the docker command line behind a kind error when
// that command was ended by a signal (SIGINT or SIGTERM), as Ctrl-C ends the
// children of the terminal's process group.
func killedDockerCall(err error) ([]string, bool) {
	if err == nil {
		return nil, false
	}
	if re := kindexec.RunErrorForError(err); re != nil {
		var ee *osexec.ExitError
		if errors.As(re.Inner, &ee) && len(re.Command) > 0 && re.Command[0] == "docker" {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && (ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGTERM) {
				return re.Command, true
			}
		}
		return nil, false
	}
	// Nodes are created concurrently; their errors are aggregated, which hides
	// the RunError: fall back on its message.
	if m := killedRun.FindStringSubmatch(err.Error()); m != nil {
		return strings.Fields(m[1]), true
	}
	return nil, false
}

var killedRun = regexp.MustCompile(`command "(docker [^"]*)" failed with error: signal: (?:interrupt|terminated)`)

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// CreateNoWait creates the cluster with kind's own defaults: no readiness wait
// beyond kind's, no reuse. It is the floor the bench compares Create against.
func (c *Cluster) CreateNoWait(ctx context.Context) error {
	if err := os.MkdirAll(c.kubeconfigDir, 0o700); err != nil {
		return err
	}
	c.kubeconfig = filepath.Join(c.kubeconfigDir, c.name+".yaml")
	if err := c.Hold(); err != nil {
		return err
	}
	c.created = true
	c.hold.markCreated()
	opts := []kindcluster.CreateOption{kindcluster.CreateWithKubeconfigPath(c.kubeconfig),
		kindcluster.CreateWithDisplayUsage(false), kindcluster.CreateWithDisplaySalutation(false)}
	if c.image != "" {
		opts = append(opts, kindcluster.CreateWithNodeImage(c.image))
	}
	return c.provider.Create(c.name, opts...)
}

func (c *Cluster) exists() (bool, error) {
	names, err := c.provider.List()
	if err != nil {
		return false, withDockerOutput("listing kind clusters", err)
	}
	for _, n := range names {
		if n == c.name {
			return true, nil
		}
	}
	return false, nil
}

// GetKubeconfig implements support.E2EClusterProvider.
func (c *Cluster) GetKubeconfig() string { return c.kubeconfig }

// GenerateKubeconfig implements support.E2EClusterProvider.
func (c *Cluster) GenerateKubeconfig(args ...string) (string, error) {
	cfg, err := c.provider.KubeConfig(c.name, false)
	if err != nil {
		return "", err
	}
	return cfg, nil
}

// GetKubectlContext implements support.E2EClusterProvider.
func (c *Cluster) GetKubectlContext() string { return "kind-" + c.name }

// KubernetesRestConfig implements support.E2EClusterProvider.
func (c *Cluster) KubernetesRestConfig() *rest.Config { return c.rest }

// WaitForControlPlane waits until every node is Ready and CoreDNS pods run.
func (c *Cluster) WaitForControlPlane(ctx context.Context, _ klient.Client) error {
	if c.rest == nil {
		return fmt.Errorf("cluster %s: no kubeconfig yet", c.name)
	}
	cs, err := kubernetes.NewForConfig(c.rest)
	if err != nil {
		return err
	}
	if err := WaitForNodesReadyAndDNS(ctx, cs, c.waitForReady); err != nil {
		return err
	}
	return c.isolateServiceNetwork(ctx, cs)
}

// WaitForNodesReadyAndDNS waits for Ready nodes and Running, Ready CoreDNS pods.
func WaitForNodesReadyAndDNS(ctx context.Context, cs kubernetes.Interface, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if len(nodes.Items) == 0 {
			last = "no nodes registered"
			return false, nil
		}
		for _, n := range nodes.Items {
			if !nodeReady(n) {
				last = "node " + n.Name + " not Ready"
				return false, nil
			}
		}
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if len(pods.Items) == 0 {
			last = "no CoreDNS pods yet"
			return false, nil
		}
		for _, p := range pods.Items {
			if !PodReady(p) {
				last = "CoreDNS pod " + p.Name + " is " + string(p.Status.Phase)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for node Ready and CoreDNS: %s: %w", last, err)
	}
	return nil
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodReady reports a Running pod whose Ready condition is True.
func PodReady(p corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ExportLogs implements support.E2EClusterProvider with kind's log collection.
func (c *Cluster) ExportLogs(ctx context.Context, dest string) error {
	return c.provider.CollectLogs(c.name, dest)
}

// Destroy implements support.E2EClusterProvider: deletes the cluster by name
// when this process created it or was told to take it over (WithTakeOver),
// and never one another run holds. A cluster this run only reused is left as
// it is, with a line saying how to delete it.
func (c *Cluster) Destroy(ctx context.Context) error {
	if c.deleted {
		return nil // a deferred Destroy after an explicit one: nothing left to say
	}
	if !c.Created() && !c.takeOver {
		fmt.Fprintf(c.log, "[cluster] leaving kind cluster %s: this run reused it and did not create it (delete it with: upgrade-harness cluster down -name %s)\n", c.name, c.name)
		return nil
	}
	if err := c.Hold(); err != nil {
		return err
	}
	// Deleting it on purpose is no lost node.
	c.hold.watch(nil)
	fmt.Fprintf(c.log, "[cluster] deleting kind cluster %s\n", c.name)
	if err := c.provider.Delete(c.name, c.kubeconfig); err != nil {
		return fmt.Errorf("deleting kind cluster %s: %w", c.name, err)
	}
	// The kubeconfig file is ours (one per cluster name): remove it too.
	os.Remove(filepath.Join(c.kubeconfigDir, c.name+".yaml"))
	c.created, c.deleted = false, true
	c.hold.Release()
	c.hold = nil
	return nil
}

// LoadImage implements support.E2EClusterProviderWithImageLoader.
func (c *Cluster) LoadImage(ctx context.Context, image string, args ...string) error {
	return c.LoadImages(ctx, image)
}

// LoadImages loads local Docker images into every node; images the nodes
// already hold with the same ID are skipped, the rest go in one archive.
func (c *Cluster) LoadImages(ctx context.Context, images ...string) error {
	ns, err := c.provider.ListInternalNodes(c.name)
	if err != nil {
		return err
	}
	start := time.Now()
	ids, err := dockerImageIDs(ctx, images)
	if err != nil {
		return err
	}
	var missing []string
	nodeImages := make([]map[string]string, len(ns))
	for i, n := range ns {
		nodeImages[i] = imagesOnNode(n)
	}
	for i, img := range images {
		for j, n := range ns {
			if have := nodeImages[j][normalizedRef(img)]; have == ids[i] {
				continue
			}
			// Not under that name in the listing: ask the node for this one
			// image (crictl resolves the name as containerd stores it).
			if have, _ := nodeutils.ImageID(n, img); have != ids[i] {
				missing = append(missing, img)
				break
			}
		}
	}
	if len(missing) == 0 {
		fmt.Fprintf(c.log, "[cluster] %d images already loaded in %s\n", len(images), c.name)
		return nil
	}
	for _, n := range ns {
		if err := loadArchive(ctx, n, missing); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.log, "[cluster] loaded %d images (%d already present) into %s in %s\n", len(missing), len(images)-len(missing), c.name, time.Since(start).Round(100*time.Millisecond))
	return nil
}

func loadArchive(ctx context.Context, n nodes.Node, images []string) error {
	// docker save streams into the node's containerd import.
	pr, pw := io.Pipe()
	saved := make(chan error, 1)
	go func() {
		_, err := docker.Default.Do(ctx, docker.Call{Args: append([]string{"save"}, images...), Stdout: pw})
		pw.CloseWithError(err)
		saved <- err
	}()
	loadErr := nodeutils.LoadImageArchive(n, pr)
	pr.CloseWithError(io.ErrClosedPipe) // a load that stopped early ends the save
	if err := <-saved; err != nil {
		return err
	}
	if loadErr != nil {
		return fmt.Errorf("loading %s into node %s: %w", strings.Join(images, " "), n.String(), loadErr)
	}
	return nil
}

// LoadImageArchive implements support.E2EClusterProviderWithImageLoader.
func (c *Cluster) LoadImageArchive(ctx context.Context, archivePath string, args ...string) error {
	ns, err := c.provider.ListInternalNodes(c.name)
	if err != nil {
		return err
	}
	for _, n := range ns {
		f, err := os.Open(archivePath)
		if err != nil {
			return err
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func dockerImageID(ctx context.Context, image string) (string, error) {
	return docker.Default.Run(ctx, "image", "inspect", "-f", "{{.Id}}", image)
}

// dockerImageIDs is the engine's ID of each image, in one docker call (one
// per image only to name the one that is missing).
func dockerImageIDs(ctx context.Context, images []string) ([]string, error) {
	if len(images) == 0 {
		return nil, nil
	}
	out, err := docker.Default.Run(ctx, append([]string{"image", "inspect", "-f", "{{.Id}}"}, images...)...)
	if ids := strings.Fields(out); err == nil && len(ids) == len(images) {
		return ids, nil
	}
	ids := make([]string, len(images))
	for i, img := range images {
		if ids[i], err = dockerImageID(ctx, img); err != nil {
			return nil, fmt.Errorf("image %s is not in the local Docker engine (build or pull it first): %w", img, err)
		}
	}
	return ids, nil
}

// imagesOnNode is the image ID of every name the node's containerd holds,
// from one crictl call (empty when it fails: each image is then asked alone).
func imagesOnNode(n nodes.Node) map[string]string {
	var out bytes.Buffer
	if err := n.Command("crictl", "images", "-o", "json").SetStdout(&out).Run(); err != nil {
		return nil
	}
	var listed struct {
		Images []struct {
			ID       string   `json:"id"`
			RepoTags []string `json:"repoTags"`
		} `json:"images"`
	}
	if err := json.Unmarshal(out.Bytes(), &listed); err != nil {
		return nil
	}
	ids := map[string]string{}
	for _, img := range listed.Images {
		for _, tag := range img.RepoTags {
			ids[tag] = img.ID
		}
	}
	return ids
}

// normalizedRef is ref as containerd names it (docker.io/library/… for a
// short name, :latest when untagged); ref itself when it does not parse.
func normalizedRef(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.TagNameOnly(named).String()
}

// ListHarnessClusters returns the kind clusters whose names carry NamePrefix.
func ListHarnessClusters() ([]string, error) {
	p := kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(kindlog.NoopLogger{}))
	names, err := p.List()
	if err != nil {
		return nil, withDockerOutput("listing kind clusters", err)
	}
	var out []string
	for _, n := range names {
		if IsHarnessCluster(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// notReusable says why an existing cluster cannot be reused ("" when it can):
// a node container that is not running, or one the engine started again
// after the cluster was last ready (a dockerd or machine restart).
func (c *Cluster) notReusable(ctx context.Context) string {
	all, err := ContainersOf(ctx, c.name)
	if err != nil || len(all) == 0 {
		return "its node containers cannot be listed"
	}
	out, err := docker.Default.Run(ctx, append([]string{"inspect", "-f", "{{.Name}} {{.State.Running}} {{.Created}} {{.State.StartedAt}}"}, all...)...)
	if err != nil {
		return "its node containers cannot be inspected (" + err.Error() + ")"
	}
	// The harness writes the kubeconfig once kind has made the cluster and on
	// every reuse: a node started after that was restarted.
	var readyAt time.Time
	if st, err := os.Stat(c.kubeconfig); err == nil {
		readyAt = st.ModTime()
	}
	return nodeRestarted(out, readyAt)
}

// nodeRestartSlack: without a kubeconfig to date the cluster, a node that
// started this much later than its container was created was restarted
// (kind's own docker run starts it within seconds, minutes on a loaded machine).
const nodeRestartSlack = 10 * time.Minute

// nodeRestarted reads `docker inspect` lines "name running created startedAt";
// readyAt is when the cluster was last known ready (zero: unknown).
func nodeRestarted(inspect string, readyAt time.Time) string {
	for _, line := range strings.Split(strings.TrimSpace(inspect), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			return "its node containers cannot be inspected"
		}
		name := strings.TrimPrefix(f[0], "/")
		if f[1] != "true" {
			return "node " + name + " is not running"
		}
		created, err1 := time.Parse(time.RFC3339Nano, f[2])
		started, err2 := time.Parse(time.RFC3339Nano, f[3])
		if err1 != nil || err2 != nil {
			return "node " + name + " has no readable start time"
		}
		switch {
		case !readyAt.IsZero() && started.After(readyAt):
			return fmt.Sprintf("node %s was started again at %s, after the cluster was ready (%s)", name, started.UTC().Format(time.TimeOnly), readyAt.UTC().Format(time.TimeOnly))
		case readyAt.IsZero() && started.Sub(created) > nodeRestartSlack:
			return fmt.Sprintf("node %s was started again %s after kind created it", name, started.Sub(created).Round(time.Second))
		}
	}
	return ""
}

// ContainersOf lists the Docker containers (any state) of a kind cluster, by
// kind's cluster label; used to prove a teardown left nothing behind.
func ContainersOf(ctx context.Context, name string) ([]string, error) {
	out, err := docker.Default.Run(ctx, "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster="+name, "--format", "{{.Names}}")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// withDockerOutput keeps what docker said when kind's call of it failed:
// kind's error names only the command and its exit status.
func withDockerOutput(what string, err error) error {
	if re := kindexec.RunErrorForError(err); re != nil {
		if out := strings.TrimSpace(string(re.Output)); out != "" {
			if len(out) > 2000 {
				out = out[len(out)-2000:]
			}
			return fmt.Errorf("%s: %s: %w: %s", what, strings.Join(re.Command, " "), re.Inner, out)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
