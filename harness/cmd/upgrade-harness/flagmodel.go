package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

// The flag model: each command is one commandSpec, a table of flagSpecs. The
// Go flag set, the -h text, the scripts' list of boolean and path flags and the
// make variables are all read from it (tests fail when scripts/lib.sh or the
// Makefile drift from it), so a flag is declared once.

// flagKind is how a flag's value is read.
type flagKind int

const (
	kindString flagKind = iota
	kindBool            // -name or -name=true|false; never takes the next argument
	kindInt
	kindList // comma list; an empty item (a,,b) is refused
)

func (k flagKind) String() string {
	return [...]string{"string", "bool", "int", "list"}[k]
}

// flagSpec is one flag of one command.
type flagSpec struct {
	name string
	kind flagKind
	def  string
	// arg names the value in help (FILE, RELEASES, …); bools have none.
	arg   string
	usage string
	// choices, when set, are the only values accepted (besides "" when def is "").
	choices []string
	// path: a relative value is a path the scripts make absolute (a catalog
	// only when it is a file).
	path bool
	// makeVar is the make variable that passes this flag; noMake says why
	// make never passes it (one of the two is set for a command make runs).
	makeVar, noMake string
}

// commandSpec is one subcommand: what it does and its flags.
type commandSpec struct {
	name    string
	summary string // one line, for the command list
	// args describes what comes before the flags (cluster's action, tool's name).
	args        string
	description string
	inputs      string
	outputs     string
	flags       []flagSpec
	// makeTargets are the make targets that run this command.
	makeTargets []string
	run         func(ctx context.Context, args []string) error
}

// exitCodesHelp is every command's exit-code paragraph.
const exitCodesHelp = `exit codes: 0 ok, 1 regression found, 2 bad input (nothing was touched),
3 infrastructure failed (engine, image, cluster), 130/143 interrupted (SIGINT/SIGTERM)`

// maxValueLen bounds a flag's value: no valid one comes near it, and every
// message that repeats a value stays short.
const maxValueLen = 4096

// maxShown bounds how much of a user's value a message repeats.
const maxShown = 200

// cut is s as a message shows it: at most maxShown bytes of it, then how long it was.
func cut(s string) string {
	if len(s) <= maxShown {
		return s
	}
	i := maxShown
	for i > 0 && (s[i]&0xC0) == 0x80 { // not inside a UTF-8 sequence
		i--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:i], len(s))
}

// flagValue holds one parsed flag of a command.
type flagValue struct {
	spec  *flagSpec
	raw   string
	set   bool
	b     bool
	n     int
	list  []string
	onSet func(*flagValue) // records a Set error for the one-line message
	err   error
}

func (v *flagValue) String() string { return v.raw }

func (v *flagValue) IsBoolFlag() bool { return v.spec.kind == kindBool }

func (v *flagValue) Set(s string) error {
	if err := v.parse(s); err != nil {
		v.err = err
		return err
	}
	v.set = true
	return nil
}

// parse reads s by the flag's kind; its errors are the whole message after the flag.
func (v *flagValue) parse(s string) error {
	sp := v.spec
	if len(s) > maxValueLen {
		return fmt.Errorf("-%s %q: is longer than any valid value (want at most %d bytes)", sp.name, cut(s), maxValueLen)
	}
	switch sp.kind {
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean value %q for -%s: want true or false (or -%s alone for true)", cut(s), sp.name, sp.name)
		}
		v.b = b
	case kindInt:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid value %q for -%s: want a whole number, e.g. -%s %s", cut(s), sp.name, sp.name, sp.def)
		}
		v.n = n
	case kindList:
		var items []string
		if strings.TrimSpace(s) != "" {
			for _, p := range strings.Split(s, ",") {
				p = strings.TrimSpace(p)
				if p == "" {
					return fmt.Errorf("-%s %q: has an empty item (want a comma list without empty items, e.g. -%s a,b)", sp.name, cut(s), sp.name)
				}
				items = append(items, p)
			}
		}
		v.list = items
	case kindString:
		if len(sp.choices) > 0 && !(s == "" && sp.def == "") && !slices.Contains(sp.choices, s) {
			return fmt.Errorf("-%s %q: want %s", sp.name, cut(s), joinOr(sp.choices))
		}
	}
	v.raw = s
	return nil
}

// flagValues are a command's parsed flags, by name.
type flagValues struct {
	cmd *commandSpec
	fs  *flag.FlagSet
	by  map[string]*flagValue
}

// newFlagValues declares spec's flags on a fresh flag set, at their defaults.
func newFlagValues(spec *commandSpec, name string) *flagValues {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported as one line by parse, help by printHelp
	fv := &flagValues{cmd: spec, fs: fs, by: map[string]*flagValue{}}
	for i := range spec.flags {
		sp := &spec.flags[i]
		v := &flagValue{spec: sp}
		def := sp.def
		if sp.name == "artifacts" {
			def = envOr("ARTIFACTS", def)
		}
		if err := v.parse(def); err != nil {
			panic(fmt.Sprintf("flag model: %s -%s: default %q: %v", spec.name, sp.name, def, err))
		}
		fv.by[sp.name] = v
		fs.Var(v, sp.name, sp.usage)
	}
	return fv
}

func (fv *flagValues) get(name string, k flagKind) *flagValue {
	v, ok := fv.by[name]
	if !ok || v.spec.kind != k {
		panic(fmt.Sprintf("flag model: %s has no %s flag -%s", fv.cmd.name, k, name))
	}
	return v
}

func (fv *flagValues) str(name string) string    { return fv.get(name, kindString).raw }
func (fv *flagValues) boolean(name string) bool  { return fv.get(name, kindBool).b }
func (fv *flagValues) integer(name string) int   { return fv.get(name, kindInt).n }
func (fv *flagValues) list(name string) []string { return fv.get(name, kindList).list }

// raw is the text of any flag as given (or its default).
func (fv *flagValues) raw(name string) string { return fv.by[name].raw }

// isSet reports whether flag name was given on the command line.
func (fv *flagValues) isSet(name string) bool { return fv.by[name] != nil && fv.by[name].set }

// errHelp: -h, -help or --help was given and the help was printed (exit 0).
var errHelp = flag.ErrHelp

// parse parses args, printing the help to stdout for -h. Its errors are one
// line naming the flag and the valid form, then a pointer to -h.
func (fv *flagValues) parse(args []string) error {
	for _, a := range args {
		if a == "--" || len(a) < 2 || a[0] != '-' {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			printHelp(os.Stdout, fv.cmd, fv.fs.Name())
			return errHelp
		}
	}
	if err := fv.parseFlags(args); err != nil {
		return fault.BadInputErr(fmt.Errorf("%s (see upgrade-harness %s -h)", err, fv.fs.Name()))
	}
	return nil
}

func (fv *flagValues) parseFlags(args []string) error {
	if err := refuseRepeatedFlags(fv.fs, args); err != nil {
		return err
	}
	if err := fv.fs.Parse(args); err != nil {
		for _, v := range fv.by {
			if v.err != nil {
				return v.err
			}
		}
		return fv.goFlagError(err)
	}
	if fv.fs.NArg() > 0 {
		return positionalError(fv.fs, fv.fs.Args())
	}
	return nil
}

// goFlagError rewrites the flag package's own errors (unknown flag, missing
// value) into one line that says what would be valid.
func (fv *flagValues) goFlagError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		hint := "it takes no flags"
		if near := fv.nearest(name); near != "" {
			hint = "did you mean -" + near + "?"
		} else if len(fv.by) > 0 {
			hint = "want one of " + fv.names()
		}
		return fmt.Errorf("flag provided but not defined: -%s (%s)", cut(name), hint)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		if v := fv.by[name]; v != nil {
			return fmt.Errorf("flag -%s needs a value (want -%s %s)", name, name, argOf(v.spec))
		}
	}
	if name, ok := strings.CutPrefix(msg, "bad flag syntax: "); ok {
		return fmt.Errorf("bad flag syntax %q (want -name value or -name=value)", cut(name))
	}
	return errors.New(cut(msg))
}

// nearest is the declared flag closest to name (edit distance ≤ 2, or a prefix), "" if none.
func (fv *flagValues) nearest(name string) string {
	best, bestD := "", 3
	for _, sp := range fv.cmd.flags {
		d := levenshtein.ComputeDistance(name[:min(len(name), 64)], sp.name)
		if strings.HasPrefix(sp.name, name) && len(name) >= 3 {
			d = 1
		}
		if d < bestD {
			best, bestD = sp.name, d
		}
	}
	return best
}

func (fv *flagValues) names() string {
	var ns []string
	for _, sp := range fv.cmd.flags {
		ns = append(ns, "-"+sp.name)
	}
	return strings.Join(ns, ", ")
}

func argOf(sp *flagSpec) string {
	switch {
	case sp.kind == kindBool:
		return ""
	case sp.arg != "":
		return sp.arg
	case len(sp.choices) > 0:
		return strings.Join(sp.choices, "|")
	case sp.kind == kindInt:
		return "N"
	case sp.kind == kindList:
		return "A,B"
	}
	return "VALUE"
}

// printHelp writes a command's help: what it does, its inputs and outputs,
// its flags with defaults and make variables, and the exit codes.
func printHelp(w io.Writer, spec *commandSpec, name string) {
	use := "upgrade-harness " + name
	if spec.args != "" && name == spec.name {
		use += " " + spec.args
	}
	if len(spec.flags) > 0 {
		use += " [flags]"
	}
	fmt.Fprintf(w, "usage: %s\n\n%s\n", use, strings.TrimSpace(spec.description))
	if spec.inputs != "" {
		fmt.Fprintf(w, "\ninputs: %s\n", strings.TrimSpace(spec.inputs))
	}
	if spec.outputs != "" {
		fmt.Fprintf(w, "\noutputs: %s\n", strings.TrimSpace(spec.outputs))
	}
	if len(spec.flags) > 0 {
		fmt.Fprintln(w, "\nflags:")
		for _, sp := range spec.flags {
			head := "-" + sp.name
			if a := argOf(&sp); a != "" {
				head += " " + a
			}
			fmt.Fprintf(w, "  %s\n      %s", head, sp.usage)
			var extra []string
			if sp.def != "" && !(sp.kind == kindBool && sp.def == "false") {
				extra = append(extra, "default "+sp.def)
			}
			if sp.makeVar != "" {
				extra = append(extra, "make "+sp.makeVar+"=")
			}
			if len(extra) > 0 {
				fmt.Fprintf(w, " (%s)", strings.Join(extra, "; "))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\n%s\n", exitCodesHelp)
}

// joinOr is "a, b or c".
func joinOr(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
