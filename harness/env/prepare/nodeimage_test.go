package prepare

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
)

// fakeEngine answers docker calls: image inspect from what it holds, pull
// from pullOK; it records every call.
type fakeEngine struct {
	holds  map[string]bool
	pullOK bool
	calls  []string
}

func (f *fakeEngine) exec(_ context.Context, c docker.Call) ([]byte, []byte, error) {
	f.calls = append(f.calls, strings.Join(c.Args, " "))
	switch {
	case len(c.Args) == 3 && c.Args[0] == "image" && c.Args[1] == "inspect":
		if f.holds[c.Args[2]] {
			return []byte("[{}]"), nil, nil
		}
		return nil, []byte("Error: No such image: " + c.Args[2]), errors.New("exit status 1")
	case len(c.Args) == 2 && c.Args[0] == "pull":
		if f.pullOK {
			f.holds[c.Args[1]] = true
			return []byte("Status: Downloaded newer image"), nil, nil
		}
		return nil, []byte("Error response from daemon: Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host"), errors.New("exit status 1")
	}
	return nil, []byte("unexpected"), errors.New("unexpected docker call")
}

type choiceCase struct {
	name     string
	env      string
	version  string
	cgroupV2 bool
	engine   *fakeEngine
	want     NodeImageSource
	wantLog  []string
	wantPull bool
}

// The node image is NODE_IMAGE when set; else kind's published image pinned
// by digest when the engine has it or can pull it; else the offline build
// (every machine here: there is no registry). Each choice says how to
// override it, and a failed pull keeps docker's reason.
func TestChooseNodeImage(t *testing.T) {
	if !strings.HasPrefix(KindNodeImage, "kindest/node:v") || !strings.Contains(KindNodeImage, "@sha256:") {
		t.Fatalf("KindNodeImage %q is not kind's image pinned by digest", KindNodeImage)
	}
	for _, c := range []choiceCase{
		{name: "pull succeeds", cgroupV2: true, engine: &fakeEngine{holds: map[string]bool{}, pullOK: true}, want: FromKind,
			wantLog: []string{"using kind's node image " + KindNodeImage, "NODE_IMAGE=… uses another"}, wantPull: true},
		{name: "already pulled", cgroupV2: true, engine: &fakeEngine{holds: map[string]bool{KindNodeImage: true}}, want: FromKind},
		{name: "pull fails: no registry", cgroupV2: true, engine: &fakeEngine{holds: map[string]bool{}}, want: FromOffline,
			wantLog: []string{"cannot be pulled", "no such host", "using the offline build", "NODE_IMAGE=… uses another"}, wantPull: true},
		{name: "NODE_IMAGE set", env: "registry.example/node:v1.33.1", cgroupV2: true, engine: &fakeEngine{holds: map[string]bool{}, pullOK: true}, want: FromEnv,
			wantLog: []string{"using NODE_IMAGE=registry.example/node:v1.33.1"}},
		{name: "cgroup v1 host", engine: &fakeEngine{holds: map[string]bool{}, pullOK: true}, want: FromOffline,
			wantLog: []string{"refuses this host's cgroup v1"}},
		{name: "another Kubernetes version asked for", version: "v1.33.13", cgroupV2: true, engine: &fakeEngine{holds: map[string]bool{}, pullOK: true}, want: FromOffline,
			wantLog: []string{"Kubernetes v1.33.13 was asked for"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log bytes.Buffer
			built := 0
			got, err := ChooseNodeImage(context.Background(), ChooseNodeImageInput{
				KubernetesVersion: c.version, Log: &log,
				Docker:   docker.New(docker.WithExec(c.engine.exec)),
				Getenv:   func(k string) string { return map[string]string{"NODE_IMAGE": c.env}[k] },
				CgroupV2: func() bool { return c.cgroupV2 },
				BuildOffline: func(_ context.Context, v string, _ bool, _ io.Writer) (string, error) {
					built++
					return "upgrade-harness/node:" + v + "-abc", nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Source != c.want {
				t.Fatalf("source %q (image %s), want %q; log:\n%s", got.Source, got.Image, c.want, log.String())
			}
			switch c.want {
			case FromKind:
				if got.Image != KindNodeImage || built != 0 {
					t.Fatalf("image %s, built %d times; want %s and no build", got.Image, built, KindNodeImage)
				}
			case FromOffline:
				if built != 1 || !strings.HasPrefix(got.Image, "upgrade-harness/node:") {
					t.Fatalf("image %s, built %d times; want the offline build once", got.Image, built)
				}
			case FromEnv:
				if got.Image != c.env || built != 0 || len(c.engine.calls) != 0 {
					t.Fatalf("image %s, built %d, docker calls %v; want NODE_IMAGE untouched", got.Image, built, c.engine.calls)
				}
			}
			pulled := false
			for _, call := range c.engine.calls {
				pulled = pulled || call == "pull "+KindNodeImage
			}
			if pulled != c.wantPull {
				t.Fatalf("pulled=%v (calls %v), want %v", pulled, c.engine.calls, c.wantPull)
			}
			for _, w := range c.wantLog {
				if !strings.Contains(log.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, log.String())
				}
			}
		})
	}
}
