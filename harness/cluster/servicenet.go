package cluster

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// defaultServiceSubnet is kind's Service CIDR when the config sets none.
const defaultServiceSubnet = "10.96.0.0/16"

// isolateServiceNetwork makes every node reject traffic to a Service IP that
// kube-proxy has not programmed (yet, or any more): "no route to host", as in a
// real cluster. Without it such packets leave the node through the engine's
// bridge and the host's default route, and on hosts whose network answers for
// any address (these sandbox VMs answer HTTP with an empty 404) a caller gets
// a reply no runner sent. kube-proxy's DNAT runs before routing, so
// programmed Services are not affected.
func (c *Cluster) isolateServiceNetwork(ctx context.Context, cs kubernetes.Interface) error {
	subnet := serviceSubnet(ctx, cs)
	ns, err := c.provider.ListInternalNodes(c.name)
	if err != nil {
		return err
	}
	for _, n := range ns {
		var out strings.Builder
		cmd := n.CommandContext(ctx, "ip", "route", "replace", "unreachable", subnet)
		cmd.SetStdout(&out)
		cmd.SetStderr(&out)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("node %s: ip route replace unreachable %s: %v: %s", n.String(), subnet, err, strings.TrimSpace(out.String()))
		}
	}
	fmt.Fprintf(c.log, "[cluster] %s: Service network %s is unreachable from the nodes unless kube-proxy programmed the address\n", c.name, subnet)
	return nil
}

// serviceSubnet reads the Service CIDR kubeadm was given (kind's default
// when it cannot be read).
func serviceSubnet(ctx context.Context, cs kubernetes.Interface) string {
	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{})
	if err != nil {
		return defaultServiceSubnet
	}
	var cfg struct {
		Networking struct {
			ServiceSubnet string `json:"serviceSubnet"`
		} `json:"networking"`
	}
	if yaml.Unmarshal([]byte(cm.Data["ClusterConfiguration"]), &cfg) != nil || cfg.Networking.ServiceSubnet == "" {
		return defaultServiceSubnet
	}
	// A dual-stack cluster lists both families; the node route is per family.
	return strings.Split(cfg.Networking.ServiceSubnet, ",")[0]
}
