package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindOfIsTheOutermostTypedError(t *testing.T) {
	plain := errors.New("boom")
	cases := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, KindNone},
		{"an error of no kind", plain, KindUnknown},
		{"bad input", BadInputErr(plain), KindBadInput},
		{"infrastructure", InfraErr(plain), KindInfrastructure},
		{"regression", RegressionErr(plain), KindRegression},
		{"wrapped by fmt.Errorf", fmt.Errorf("-catalog: %w", BadInputErr(plain)), KindBadInput},
		{"through a stage", InStage("install", InfraErr(plain)), KindInfrastructure},
		{"the outer kind decides", BadInputErr(InfraErr(plain)), KindBadInput},
		{"joined: the first", errors.Join(RegressionErr(plain), InfraErr(plain)), KindRegression},
	}
	for _, c := range cases {
		if got := KindOf(c.err); got != c.want {
			t.Errorf("%s: KindOf = %v, want %v", c.name, got, c.want)
		}
	}
}

// The kinds keep the message of what they wrap: tests and people match it.
func TestMessagesAreUnchanged(t *testing.T) {
	plain := errors.New(`catalog x.yaml:3: from "v9": not a release`)
	for _, err := range []error{BadInputErr(plain), InfraErr(plain), RegressionErr(plain)} {
		if err.Error() != plain.Error() || !errors.Is(err, plain) {
			t.Errorf("%T: %q, want %q and errors.Is", err, err, plain)
		}
	}
}

func TestNewBadInputNamesFileFieldValueAndWhatIsValid(t *testing.T) {
	err := NewBadInput("builds.yaml", "builds[2].image", "Foo:bar", "a lower-case image reference")
	if got, want := err.Error(), `builds.yaml: builds[2].image "Foo:bar": want a lower-case image reference`; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	var b *BadInput
	if !errors.As(fmt.Errorf("bisect: %w", err), &b) || b.File != "builds.yaml" || b.Field != "builds[2].image" || b.Value != "Foo:bar" {
		t.Errorf("errors.As = %+v, want file, field and value", b)
	}
}

// An infrastructure error made from a step's error says the innermost stage.
func TestInfrastructureCarriesTheStageItFailedIn(t *testing.T) {
	err := InfraErr(InStage("cell v0.2.0 → v0.2.2", InStage("install v0.2.2", errors.New("rollout stuck"))))
	var inf *Infrastructure
	if !errors.As(fmt.Errorf("matrix: %w", err), &inf) || inf.Stage != "install v0.2.2" {
		t.Fatalf("errors.As = %+v, want stage install v0.2.2", inf)
	}
	if err.Error() != "cell v0.2.0 → v0.2.2: install v0.2.2: rollout stuck" {
		t.Errorf("message %q", err)
	}
	if InfraErr(errors.New("x")).(*Infrastructure).Stage != "" {
		t.Error("a stage was made up for an error outside any")
	}
	if InStage("x", nil) != nil {
		t.Error("InStage(nil) is not nil")
	}
}
