package images

import (
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/simulated"
)

// The build knows the simulated releases only from its Simulated list: a
// release missing there is refused naming the list's releases, and a listed
// one is compiled with the list's baked variable.
func TestBuildReadsTheSimulatedList(t *testing.T) {
	sim := &simulated.Platform{Releases: []string{"v0.2.0"}, Faults: []string{"f1"}, FaultTagInfix: "-fault-", BakedVariable: "x/rel.Baked"}
	_, err := BuildInput{Releases: []string{"v0.2.2"}, Simulated: sim, ModuleDir: t.TempDir(), CacheDir: t.TempDir()}.withDefaults()
	want := `BuildInput.Releases: release "v0.2.2" is not simulated; valid releases: v0.2.0 (each also as <release>-fault-<fault>, faults: f1)`
	if exitcode.Of(err) != exitcode.BadInput || err.Error() != want {
		t.Errorf("got %v (exit %d), want %q (exit 2)", err, exitcode.Of(err), want)
	}
	if _, _, err := parseSimulatedRef(sim, "", "localhost/ambient-sim/vteam_backend:v0.2.0-fault-f2"); err == nil || !strings.Contains(err.Error(), `fault "f2" is not seeded; valid faults: f1`) {
		t.Errorf("fault tag not in the list: %v", err)
	}
	in, err := BuildInput{Releases: []string{"v0.2.0-fault-f1"}, Simulated: sim, ModuleDir: t.TempDir(), CacheDir: t.TempDir()}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := specFor(ComponentBackend)
	cmd := buildCommand(in, spec, "v0.2.0-fault-f1", "out")
	if args := strings.Join(cmd.Args, " "); !strings.Contains(args, "-X "+simulated.ModulePath+"/x/rel.Baked=v0.2.0-fault-f1") {
		t.Errorf("go %s: want the list's baked variable set to the tag", args)
	}
}
