package exitcode

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

func TestOfMapsKinds(t *testing.T) {
	plain := errors.New("boom")
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, OK},
		{fault.RegressionErr(plain), Regression},
		{fault.BadInputErr(plain), BadInput},
		{fmt.Errorf("-catalog: %w", fault.BadInputErr(plain)), BadInput},
		{fault.InfraErr(plain), Infrastructure},
		{plain, Infrastructure}, // an unexplained error is never a pass
		{context.Canceled, Infrastructure},
	} {
		if got := Of(c.err); got != c.want {
			t.Errorf("Of(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// Exit codes are decided under harness/cmd alone: no other package of the
// harness imports this one (tests may, to check what a command would exit with).
func TestOnlyCommandsImportExitCodes(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/ambient-e2e/upgrade-harness/harness/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	const self = "github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if !strings.Contains(" "+imports+" ", " "+self+" ") {
			continue
		}
		if !strings.HasPrefix(pkg, "github.com/ambient-e2e/upgrade-harness/harness/cmd/") {
			t.Errorf("%s imports %s: exit codes are decided in harness/cmd alone (return a harness/fault error)", pkg, self)
		}
	}
}
