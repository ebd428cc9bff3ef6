package nodeimage

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// generatedFiles are written into the node on top of kind's base files. Their
// content is part of the recipe digest.
var generatedFiles = map[string]string{
	// kindnetd cannot be pulled: a static bridge CNI serves a single node. It
	// does NOT enforce NetworkPolicy (kindnet with kube-network-policies does).
	"etc/cni/net.d/10-upgrade-harness-bridge.conflist": `{
  "cniVersion": "1.0.0",
  "name": "upgrade-harness-bridge",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.0.0/16"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
`,
	// kind applies this file as its "default CNI"; the real network is the
	// static conflist above, so ship a harmless, self-describing object.
	"kind/manifests/default-cni.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: upgrade-harness-cni
  namespace: kube-system
data:
  cni: "static bridge conflist /etc/cni/net.d/10-upgrade-harness-bridge.conflist (no NetworkPolicy enforcement)"
`,
	"kind/manifests/default-storage.yaml": `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
`,
	// The base image's Dockerfile steps, as a script run once inside the build container.
	"kind/bin/upgrade-harness-setup.sh": `#!/bin/bash
set -euxo pipefail
chmod 755 /kind /kind/bin
find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
  /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
  /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >> /etc/systemd/journald.conf
ln -sf /usr/lib/systemd/systemd /sbin/init
ln -sf /usr/bin/containerd /usr/local/bin/containerd
ln -sf /usr/bin/ctr /usr/local/bin/ctr
mkdir -p /opt/cni/bin
for p in /usr/lib/cni/*; do ln -sf "$p" /opt/cni/bin/; done
systemctl enable kubelet.service
systemctl enable containerd.service
systemctl enable undo-mount-hacks.service
systemctl mask systemd-binfmt.service
mkdir -p /etc/kubernetes/manifests
ctr oci spec \
  | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
  | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
# Lowering oom_score_adj needs CAP_SYS_RESOURCE, which these hosts cannot grant:
# without this every pod sandbox fails ("can't get final child's PID from pipe").
sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
grep -q 'restrict_oom_score_adj = true' /etc/containerd/config.toml
apt-get clean 2>/dev/null || true
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old
`,
}

func filesDigest() string {
	names := make([]string, 0, len(generatedFiles))
	for n := range generatedFiles {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n + "\x00" + generatedFiles[n] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// mirrorFromSources finds the Debian mirror this host's apt uses for suite, so
// that the node's root filesystem comes from the same place (no host is named in code).
func mirrorFromSources(files map[string]string, suite string) string {
	for _, content := range files {
		// deb822 (.sources): stanzas of "URIs:" and "Suites:".
		for _, stanza := range strings.Split(content, "\n\n") {
			var uris, suites []string
			for _, line := range strings.Split(stanza, "\n") {
				line = strings.TrimSpace(line)
				if v, ok := strings.CutPrefix(line, "URIs:"); ok {
					uris = strings.Fields(v)
				}
				if v, ok := strings.CutPrefix(line, "Suites:"); ok {
					suites = strings.Fields(v)
				}
			}
			for _, s := range suites {
				if s == suite && len(uris) > 0 {
					return uris[0]
				}
			}
		}
		// one-line format: deb [opts] URI suite components...
		for _, line := range strings.Split(content, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "deb" {
				continue
			}
			i := 1
			if strings.HasPrefix(f[1], "[") {
				for i < len(f) && !strings.HasSuffix(f[i], "]") {
					i++
				}
				i++
			}
			if i+1 < len(f) && f[i+1] == suite {
				return f[i]
			}
		}
	}
	return ""
}
