// Package nodeimage builds a kind node image with no registry: the root
// filesystem from Debian packages, Kubernetes, etcd, CoreDNS, crictl and pause
// from Go modules, kind's base files from the kind module, and every image
// kubeadm needs preloaded into the node's containerd (offline-kind.md §3).
//
// The image tag carries a digest of every input (versions, packages, generated
// files), so an existing image is reused in seconds and a changed input builds a
// new one. Go and debootstrap work is cached on disk too.
package nodeimage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Recipe is every input that decides the content of the node image.
type Recipe struct {
	// KubernetesVersion defaults to v1.33.13: this host family is cgroup v1, and
	// kubelet from v1.35 refuses cgroup v1 unless failCgroupV1 is false.
	KubernetesVersion string `json:"kubernetesVersion"`
	// EtcdVersion is the go.etcd.io/etcd/server/v3 module version; EtcdImageTag the
	// tag kubeadm asks for (registry.k8s.io/etcd:<tag>).
	EtcdVersion  string `json:"etcdVersion"`
	EtcdImageTag string `json:"etcdImageTag"`
	// CoreDNSVersion is the github.com/coredns/coredns module version and image tag.
	CoreDNSVersion string `json:"corednsVersion"`
	CrictlVersion  string `json:"crictlVersion"`
	PauseTag       string `json:"pauseTag"`
	// KindVersion is the sigs.k8s.io/kind module whose images/base/files are used.
	KindVersion string   `json:"kindVersion"`
	Suite       string   `json:"suite"`
	Packages    []string `json:"packages"`
	// Files is the digest of the generated files and scripts (see files.go).
	Files string `json:"files"`
	// Revision is bumped when the build procedure changes in a way the other
	// fields do not show.
	Revision int `json:"revision"`
}

// DefaultRecipe is the recipe measured to work on these hosts.
func DefaultRecipe() Recipe {
	return Recipe{
		KubernetesVersion: "v1.33.13",
		EtcdVersion:       "v3.5.24",
		EtcdImageTag:      "3.5.24-0",
		CoreDNSVersion:    "v1.12.0",
		CrictlVersion:     "v1.34.0",
		PauseTag:          "3.10",
		KindVersion:       "v0.33.0",
		Suite:             "bookworm",
		Packages: []string{"systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2",
			"ethtool", "util-linux", "mount", "kmod", "libseccomp2", "pigz", "bash", "ca-certificates", "curl", "jq",
			"procps", "containerd", "runc", "containernetworking-plugins", "socat", "ebtables"},
		Files:    filesDigest(),
		Revision: 1,
	}
}

// Key is the content digest of the recipe (12 hex characters).
func (r Recipe) Key() string {
	raw, _ := json.Marshal(r)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:12]
}

// RootfsKey is the digest of only what debootstrap sees, so that changing a
// Kubernetes version does not rebuild the root filesystem.
func (r Recipe) RootfsKey() string {
	sum := sha256.Sum256([]byte(r.Suite + "\n" + strings.Join(r.Packages, ",")))
	return hex.EncodeToString(sum[:])[:12]
}

// ImageRepo is the local repository of offline node images.
const ImageRepo = "upgrade-harness/node"

// Tag is the full node image reference, e.g. upgrade-harness/node:v1.33.13-1a2b3c4d5e6f.
func (r Recipe) Tag() string { return fmt.Sprintf("%s:%s-%s", ImageRepo, r.KubernetesVersion, r.Key()) }

// StagingVersion turns v1.33.13 into the staging module version v0.33.13.
func (r Recipe) StagingVersion() (string, error) {
	v := strings.TrimPrefix(r.KubernetesVersion, "v")
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] != "1" {
		return "", fmt.Errorf("kubernetes version %q: want v1.MINOR.PATCH", r.KubernetesVersion)
	}
	return "v0." + parts[1] + "." + parts[2], nil
}

// ComponentImages are the images kubeadm and the node need, by reference.
func (r Recipe) ComponentImages() map[string]string {
	return map[string]string{
		"kube-apiserver":          "registry.k8s.io/kube-apiserver:" + r.KubernetesVersion,
		"kube-controller-manager": "registry.k8s.io/kube-controller-manager:" + r.KubernetesVersion,
		"kube-scheduler":          "registry.k8s.io/kube-scheduler:" + r.KubernetesVersion,
		"kube-proxy":              "registry.k8s.io/kube-proxy:" + r.KubernetesVersion,
		"etcd":                    "registry.k8s.io/etcd:" + r.EtcdImageTag,
		"coredns":                 "registry.k8s.io/coredns/coredns:" + r.CoreDNSVersion,
		"pause":                   "registry.k8s.io/pause:" + r.PauseTag,
	}
}
