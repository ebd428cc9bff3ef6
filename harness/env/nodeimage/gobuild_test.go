package nodeimage

import (
	"reflect"
	"testing"
)

func TestGroupBuilds(t *testing.T) {
	kubeadm := command{"kubeadm", "k8s.io/kubernetes/cmd/kubeadm"}
	kubelet := command{"kubelet", "k8s.io/kubernetes/cmd/kubelet"}
	etcd := command{"etcd", "go.etcd.io/etcd/server/v3"}
	tests := []struct {
		name            string
		cmds            []command
		together, alone []command
	}{
		{"one command is built alone", []command{kubelet}, nil, []command{kubelet}},
		{"commands named after their package are built together", []command{kubeadm, kubelet}, []command{kubeadm, kubelet}, nil},
		{"a command named otherwise is built alone", []command{kubeadm, etcd, kubelet}, []command{kubeadm, kubelet}, []command{etcd}},
		{"no group of one", []command{kubeadm, etcd}, nil, []command{kubeadm, etcd}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			together, alone := groupBuilds(tc.cmds)
			if !reflect.DeepEqual(together, tc.together) || !reflect.DeepEqual(alone, tc.alone) {
				t.Errorf("groupBuilds = %v, %v; want %v, %v", together, alone, tc.together, tc.alone)
			}
		})
	}
}
