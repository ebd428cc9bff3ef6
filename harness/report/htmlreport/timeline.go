package htmlreport

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// Timeline geometry, in SVG user units (pixels at 100 %).
const (
	svgWidth   = 1180.0
	gutter     = 250.0 // lane labels
	rightPad   = 14.0
	topPad     = 48.0 // phase band labels, the upgrade and rollout labels
	laneHeight = 18.0
	laneGap    = 5.0
	groupGap   = 20.0 // room for a group title
	axisHeight = 30.0
)

// Timeline is one cell's picture: phase bands behind lane groups (components,
// sessions, runner 401s by caller → family), vertical marks for the upgrade,
// and a time axis relative to the upgrade start.
type Timeline struct {
	Width, Height       float64
	PlotLeft, PlotRight float64
	PlotTop, PlotBottom float64
	Bands               []Band
	Lines               []VLine
	Groups              []LaneGroup
	Ticks               []Tick
	AxisLabel           string
	Legend              []LegendItem
}

// Band is a phase of the cell (before, during, after; later rolled back).
type Band struct {
	Phase, Label, Title, Fill string
	X, W                      float64
}

// VLine is a moment drawn across every lane (the upgrade start, the rollout
// end); each has its own label row so close moments stay readable.
type VLine struct {
	Class, Label, Title, Time string
	X, LabelY                 float64
}

// LaneGroup is a titled set of lanes.
type LaneGroup struct {
	Title string
	Y     float64
	Lanes []Lane
}

// Lane is one row: a component, a session or a caller → family pair.
type Lane struct {
	Key, Label, Sub, Title string
	Y                      float64
	Spans                  []Span
	Points                 []Point
}

// Span is a stretch of time on a lane.
type Span struct {
	Class, Fill, Label, Title string
	X, W                      float64
}

// Point is a moment on a lane. Runner 401 marks carry their caller, family,
// phase and colour key as data attributes, so a DOM check can find them.
type Point struct {
	Class, Shape, Fill, Title string
	X, Y                      float64
	Time                      string
	Caller, Family, Phase     string
	Key                       string
}

// Tick is a time axis label.
type Tick struct {
	X     float64
	Label string
}

// LegendItem explains one colour or shape used in the timeline.
type LegendItem struct {
	Shape, Fill, Label string
}

// PlotWidth is the width of the time axis.
func (t Timeline) PlotWidth() float64 { return t.PlotRight - t.PlotLeft }

// CY is the centre of a lane's row.
func (l Lane) CY() float64 { return l.Y + laneHeight/2 }

// LaneHeight is the height of one lane, for the template.
func (Lane) Height() float64 { return laneHeight }

// scale maps times onto the plot.
type scale struct {
	t0, t1 time.Time
	x0, x1 float64
}

func (s scale) x(t time.Time) float64 {
	span := s.t1.Sub(s.t0)
	if span <= 0 {
		return s.x0
	}
	f := float64(t.Sub(s.t0)) / float64(span)
	return round1(s.x0 + math.Max(0, math.Min(1, f))*(s.x1-s.x0))
}

// fits reports whether label fits a span w wide at the span label's font size.
func fits(label string, w float64) bool { return float64(len([]rune(label)))*5.6+6 <= w }

func (s scale) span(from, to time.Time) (x, w float64) {
	a, b := s.x(from), s.x(to)
	return a, round1(math.Max(b-a, 1))
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// window is the time the timeline shows: from the deploy of `from` (the first
// phase after reset and preload) or the first ledger entry, to the end of the
// cell, whichever are wider.
func window(r cellrun.Report) (time.Time, time.Time, bool) {
	var t0, t1 time.Time
	widen := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
		if t1.IsZero() || t.After(t1) {
			t1 = t
		}
	}
	for _, o := range r.Ledger {
		widen(o.Time)
	}
	for _, p := range r.Phases {
		if p.Step == cell.StepReset || p.Step == cell.StepPreload {
			continue
		}
		widen(p.Started)
		widen(p.Started.Add(p.Took))
	}
	for _, ro := range r.Rollouts {
		widen(ro.Started)
		widen(ro.Done)
	}
	widen(r.UpgradeStarted)
	if t0.IsZero() || !t1.After(t0) {
		return t0, t1, false
	}
	pad := t1.Sub(t0) / 100
	return t0.Add(-pad), t1.Add(pad), true
}

// upgradeEnd is when the rollouts were done: the end of the upgrade phase, or
// the last rollout seen done.
func upgradeEnd(r cellrun.Report) time.Time {
	if p, ok := r.Phase(cell.StepUpgrade); ok && p.Error == "" {
		return p.Started.Add(p.Took)
	}
	var end time.Time
	for _, ro := range r.Rollouts {
		if ro.Done.After(end) {
			end = ro.Done
		}
	}
	return end
}

// BuildTimeline lays out one cell; ok is false when the cell observed nothing
// to draw (it could not run).
func BuildTimeline(r cellrun.Report, describe func(ledger.Observation) string) (*Timeline, bool) {
	t0, t1, ok := window(r)
	if !ok {
		return nil, false
	}
	sc := scale{t0: t0, t1: t1, x0: gutter, x1: svgWidth - rightPad}
	tl := &Timeline{Width: svgWidth, PlotLeft: sc.x0, PlotRight: sc.x1, PlotTop: topPad}
	used := map[string]LegendItem{}
	use := func(shape string, s swatch) {
		if _, ok := used[shape+s.Fill+s.Label]; !ok {
			used[shape+s.Fill+s.Label] = LegendItem{Shape: shape, Fill: s.Fill, Label: s.Label}
			tl.Legend = append(tl.Legend, used[shape+s.Fill+s.Label])
		}
	}

	// Phase bands and the upgrade's moments.
	end := upgradeEnd(r)
	addBand := func(phase string, from, to time.Time) {
		if !to.After(from) {
			return
		}
		s := lookup(bandColours, phase)
		x, w := sc.span(from, to)
		label := phase
		if !fits(label, w) {
			label = ""
		}
		tl.Bands = append(tl.Bands, Band{Phase: phase, Label: label, Fill: s.Fill, X: x, W: w,
			Title: fmt.Sprintf("%s: %s → %s (%s)", s.Label, clock(from), clock(to), dur(to.Sub(from)))})
		use("band", s)
	}
	if r.UpgradeStarted.IsZero() {
		addBand(string(ledger.PhaseBefore), t0, t1)
	} else {
		addBand(string(ledger.PhaseBefore), t0, r.UpgradeStarted)
		if end.IsZero() || end.Before(r.UpgradeStarted) {
			addBand(string(ledger.PhaseDuring), r.UpgradeStarted, t1)
		} else {
			addBand(string(ledger.PhaseDuring), r.UpgradeStarted, end)
			addBand(string(ledger.PhaseAfter), end, t1)
		}
		tl.Lines = append(tl.Lines, VLine{Class: "upgrade-mark", Label: "upgrade " + r.Cell.From + " → " + r.Cell.To,
			X: sc.x(r.UpgradeStarted), LabelY: 27, Time: stamp(r.UpgradeStarted),
			Title: fmt.Sprintf("upgrade started %s (%s)", clock(r.UpgradeStarted), orderText(r))})
		if !end.IsZero() && end.After(r.UpgradeStarted) {
			tl.Lines = append(tl.Lines, VLine{Class: "rollout-mark", Label: "rolled out", X: sc.x(end), LabelY: 41, Time: stamp(end),
				Title: fmt.Sprintf("every rollout done %s, %s after the upgrade started", clock(end), dur(end.Sub(r.UpgradeStarted)))})
		}
	}
	// Phases the ledger knows beyond before/during/after (e.g. a rollback) get a
	// band over the entries tagged with them.
	extra := map[string][2]time.Time{}
	var extraOrder []string
	for _, o := range r.Ledger {
		switch o.Phase {
		case ledger.PhaseBefore, ledger.PhaseDuring, ledger.PhaseAfter, "":
			continue
		}
		p := string(o.Phase)
		span, seen := extra[p]
		if !seen {
			extraOrder = append(extraOrder, p)
			span = [2]time.Time{o.Time, o.Time}
		}
		if o.Time.After(span[1]) {
			span[1] = o.Time
		}
		extra[p] = span
	}
	for _, p := range extraOrder {
		addBand(p, extra[p][0], extra[p][1])
	}

	y := topPad
	addGroup := func(title string, lanes []Lane) {
		if len(lanes) == 0 {
			return
		}
		g := LaneGroup{Title: title, Y: y + 13}
		y += groupGap
		for _, l := range lanes {
			l.Y = y
			for i := range l.Spans {
				if !fits(l.Spans[i].Label, l.Spans[i].W) {
					l.Spans[i].Label = "" // the hover title still says it
				}
			}
			for i := range l.Points {
				l.Points[i].Y = l.CY()
			}
			g.Lanes = append(g.Lanes, l)
			y += laneHeight + laneGap
		}
		tl.Groups = append(tl.Groups, g)
	}
	addGroup("components", componentLanes(r, sc, t0, t1, describe, use))
	addGroup("sessions (phase from the CR status)", sessionLanes(r, sc, t1, describe, use))
	addGroup("runner 401s: caller → path family", markLanes(runner401Marks, r, sc, describe, use))
	addGroup("wire: requests to runners, caller → path family", markLanes(wireMarks, r, sc, describe, use))

	tl.PlotBottom = y
	tl.Ticks = ticks(sc, r.UpgradeStarted)
	tl.AxisLabel = "time from the upgrade start"
	if r.UpgradeStarted.IsZero() {
		tl.AxisLabel = "time from " + clock(t0) + " UTC (no upgrade started)"
	}
	tl.Height = y + axisHeight
	return tl, true
}

func componentLanes(r cellrun.Report, sc scale, t0, t1 time.Time, describe func(ledger.Observation) string, use func(string, swatch)) []Lane {
	type key struct {
		comp       platform.Component
		deployment string
	}
	var keys []key
	for _, c := range platform.UpgradeComponents {
		keys = append(keys, key{comp: c, deployment: c.Deployment()})
	}
	for _, ro := range r.Rollouts {
		if ro.Component == "" && !slices.Contains(keys, key{deployment: ro.Deployment}) {
			keys = append(keys, key{deployment: ro.Deployment})
		}
	}
	logOwner := map[ledger.Signal]platform.Component{
		ledger.SignalBackendProxy401: platform.Backend, ledger.SignalBackendListener401: platform.Backend,
		ledger.SignalOperatorWorkflow401: platform.Operator, ledger.SignalOperatorRepo401: platform.Operator,
		ledger.SignalRunnerAuthEnabled: platform.Runner,
	}
	var lanes []Lane
	for _, k := range keys {
		name := string(k.comp)
		if name == "" {
			name = k.deployment
		}
		l := Lane{Key: "component:" + name, Label: name}
		switch {
		case k.comp == platform.Runner:
			l.Sub = "image pin in " + platform.RegistryConfigMap
		case k.deployment != "":
			l.Sub = "Deployment " + k.deployment
		}
		var mine []cell.Rollout
		for _, ro := range r.Rollouts {
			if (k.comp != "" && ro.Component == k.comp) || (k.comp == "" && ro.Deployment == k.deployment && ro.Component == "") {
				mine = append(mine, ro)
			}
		}
		cursor := t0
		for _, ro := range mine {
			if ro.FromImage != "" || cursor.Equal(t0) {
				x, w := sc.span(cursor, ro.Started)
				l.Spans = append(l.Spans, Span{Class: "comp-from", Fill: componentFrom.Fill, X: x, W: w, Label: imageTag(ro.FromImage),
					Title: fmt.Sprintf("%s on %s", name, orUnknown(ro.FromImage))})
				use("span", componentFrom)
			}
			done, title := ro.Done, rolloutTitle(name, ro)
			if done.IsZero() {
				done = t1
				title += " — not seen done"
			}
			x, w := sc.span(ro.Started, done)
			label := ""
			if n := len(ro.Replaced); n > 0 {
				label = fmt.Sprintf("%d replaced", n)
			}
			l.Spans = append(l.Spans, Span{Class: "comp-rollout", Fill: componentRollout.Fill, X: x, W: w, Label: label, Title: title})
			use("span", componentRollout)
			cursor = done
		}
		if len(mine) > 0 {
			last := mine[len(mine)-1]
			x, w := sc.span(cursor, t1)
			l.Spans = append(l.Spans, Span{Class: "comp-to", Fill: componentTo.Fill, X: x, W: w, Label: imageTag(last.ToImage),
				Title: fmt.Sprintf("%s on %s", name, last.ToImage)})
			use("span", componentTo)
		} else {
			x, w := sc.span(t0, t1)
			why := "no rollout recorded"
			if !r.UpgradeStarted.IsZero() && k.comp != "" && !r.Cell.Upgrades(k.comp) {
				why = "not upgraded by this order: stays on " + r.Cell.From
			}
			l.Spans = append(l.Spans, Span{Class: "comp-from", Fill: componentFrom.Fill, X: x, W: w, Label: why, Title: name + ": " + why})
			use("span", componentFrom)
		}
		for _, o := range r.Ledger {
			owner, ok := logOwner[o.Signal]
			if !ok || owner != k.comp {
				continue
			}
			s := platformLog401
			if o.Signal == ledger.SignalRunnerAuthEnabled {
				s = runnerAuth
			}
			l.Points = append(l.Points, Point{Class: "mark-log " + string(o.Signal), Shape: "tick", Fill: s.Fill, X: sc.x(o.Time),
				Time: stamp(o.Time), Phase: string(o.Phase), Title: describe(o)})
			use("tick", s)
		}
		lanes = append(lanes, l)
	}
	return lanes
}

func rolloutTitle(name string, ro cell.Rollout) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s step %d: %s → %s", name, ro.Step, orUnknown(ro.FromImage), ro.ToImage)
	fmt.Fprintf(&b, "; started %s", clock(ro.Started))
	if !ro.Done.IsZero() {
		fmt.Fprintf(&b, ", done %s (%s)", clock(ro.Done), dur(ro.Done.Sub(ro.Started)))
	}
	if ro.Deployment == "" {
		b.WriteString("; running runner pods keep their image, pods created afterwards get the new one")
	}
	if len(ro.Replaced) > 0 {
		fmt.Fprintf(&b, "; replaced %s", podList(ro.Replaced))
	}
	if len(ro.Pods) > 0 {
		fmt.Fprintf(&b, "; new %s", podList(ro.Pods))
	}
	return b.String()
}

func podList(pods []cell.PodImage) string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// sessionLanes draw each session's phases from the condition entries
// ("phase=Running"), its restart and the RUN_ERROR 401s of its stream.
func sessionLanes(r cellrun.Report, sc scale, t1 time.Time, describe func(ledger.Observation) string, use func(string, swatch)) []Lane {
	type sess struct {
		lane   Lane
		phases []ledger.Observation
		roles  []string
	}
	byKey := map[string]*sess{}
	var order []string
	// Some platform log lines name the session but not its namespace: they
	// belong to the lane of the one namespace the session is seen in.
	namespaces := map[string][]string{}
	for _, o := range r.Ledger {
		if o.Session != "" && o.Namespace != "" && !slices.Contains(namespaces[o.Session], o.Namespace) {
			namespaces[o.Session] = append(namespaces[o.Session], o.Namespace)
		}
	}
	for _, o := range r.Ledger {
		if o.Session == "" {
			continue
		}
		ns := o.Namespace
		if ns == "" && len(namespaces[o.Session]) == 1 {
			ns = namespaces[o.Session][0]
		}
		k := ns + "/" + o.Session
		s := byKey[k]
		if s == nil {
			s = &sess{lane: Lane{Key: "session:" + k, Label: o.Session, Title: k}}
			byKey[k] = s
			order = append(order, k)
		}
		if o.Role != "" && !slices.Contains(s.roles, o.Role) {
			s.roles = append(s.roles, o.Role)
		}
		switch {
		case o.Signal == ledger.SignalCondition && strings.HasPrefix(o.Detail, "phase="):
			s.phases = append(s.phases, o)
		case o.Signal == ledger.SignalSessionState && strings.HasPrefix(o.Detail, "restart:"):
			s.lane.Points = append(s.lane.Points, Point{Class: "mark-restart", Shape: "diamond", Fill: restartMark.Fill, X: sc.x(o.Time),
				Time: stamp(o.Time), Phase: string(o.Phase), Title: describe(o)})
			use("diamond", restartMark)
		case o.Signal == ledger.SignalGap:
			s.lane.Points = append(s.lane.Points, Point{Class: "mark-gap", Shape: "gap", Fill: coverageGap.Fill, X: sc.x(o.Time),
				Time: stamp(o.Time), Phase: string(o.Phase), Title: describe(o)})
			use("gap", coverageGap)
		case o.Signal == ledger.SignalRunError401:
			s.lane.Points = append(s.lane.Points, Point{Class: "mark-run-error", Shape: "cross", Fill: runError401.Fill, X: sc.x(o.Time),
				Time: stamp(o.Time), Phase: string(o.Phase), Title: describe(o)})
			use("cross", runError401)
		}
	}
	var lanes []Lane
	for _, k := range order {
		s := byKey[k]
		s.lane.Sub = strings.Join(s.roles, " → ")
		for i, o := range s.phases {
			phase := strings.TrimPrefix(strings.Fields(o.Detail)[0], "phase=")
			to := t1
			if i+1 < len(s.phases) {
				to = s.phases[i+1].Time
			}
			c := lookup(sessionColours, phase)
			x, w := sc.span(o.Time, to)
			s.lane.Spans = append(s.lane.Spans, Span{Class: "session-phase phase-" + phase, Fill: c.Fill, X: x, W: w, Label: phase,
				Title: fmt.Sprintf("%s %s from %s (%s) — %s", k, phase, clock(o.Time), dur(to.Sub(o.Time)), describe(o))})
			use("span", c)
		}
		lanes = append(lanes, s.lane)
	}
	return lanes
}

// markKind is what one group of caller → family lanes marks: which ledger
// observations, drawn how. The runner 401s and the wire requests differ only
// in these data, so one renderer draws both.
type markKind struct {
	// signal selects the observations; a wire mark also needs its Wire record.
	signal ledger.Signal
	// lane prefixes the lane keys ("401:", "wire:"), class and shape the points.
	lane, class, shape string
	// style is a mark's swatch and colour key, and whether it is a 401.
	style func(o ledger.Observation) (s swatch, key string, is401 bool)
	// sub is a lane's subtitle from its marks and its 401s among them.
	sub func(marks, n401 int) string
}

var (
	// runner401Marks: every runner 401, coloured by its class (MarkKey).
	runner401Marks = markKind{signal: ledger.SignalRunner401, lane: "401:", class: "mark-401", shape: "circle",
		style: func(o ledger.Observation) (swatch, string, bool) {
			mk := MarkKey(o)
			return lookup(markColours, mk), mk, true
		},
		sub: func(marks, _ int) string { return fmt.Sprintf("%d × 401", marks) }}
	// wireMarks: every request the wire witness saw; the hover title names its
	// headers and the fingerprints of token-like ones (the ledger holds no value to show).
	wireMarks = markKind{signal: ledger.SignalWireRequest, lane: "wire:", class: "mark-wire", shape: "wire",
		style: func(o ledger.Observation) (swatch, string, bool) {
			s := wireOK
			switch o.Status {
			case 401:
				s = wire401
			case 0:
				s = wireNoStatus
			}
			return s, fmt.Sprintf("status:%d", o.Status), o.Status == 401
		},
		sub: func(marks, n401 int) string { return fmt.Sprintf("%d requests, %d × 401", marks, n401) }}
)

// markLanes put every observation of kind on the lane of its caller and path family.
func markLanes(kind markKind, r cellrun.Report, sc scale, describe func(ledger.Observation) string, use func(string, swatch)) []Lane {
	byKey := map[string]*Lane{}
	var keys []string
	n401 := map[string]int{}
	for _, o := range r.Ledger {
		if o.Signal != kind.signal || (kind.signal == ledger.SignalWireRequest && o.Wire == nil) {
			continue
		}
		caller := o.Caller
		if caller == "" {
			caller = ledger.CallerUnknown
		}
		family := platform.PathFamily(o.Path)
		k := string(caller) + " " + family
		l := byKey[k]
		if l == nil {
			l = &Lane{Key: kind.lane + k, Label: string(caller) + " → " + family}
			byKey[k] = l
			keys = append(keys, k)
		}
		s, mk, is401 := kind.style(o)
		if is401 {
			n401[k]++
		}
		l.Points = append(l.Points, Point{Class: kind.class, Shape: kind.shape, Fill: s.Fill, X: sc.x(o.Time), Time: stamp(o.Time),
			Caller: string(caller), Family: family, Phase: string(o.Phase), Key: mk, Title: describe(o)})
		use(kind.shape, s)
	}
	sort.Strings(keys)
	lanes := make([]Lane, 0, len(keys))
	for _, k := range keys {
		l := byKey[k]
		l.Sub = kind.sub(len(l.Points), n401[k])
		lanes = append(lanes, *l)
	}
	return lanes
}

// ticks labels the axis relative to ref (the upgrade start, else the window's start).
func ticks(sc scale, ref time.Time) []Tick {
	if ref.IsZero() {
		ref = sc.t0
	}
	span := sc.t1.Sub(sc.t0)
	step := time.Second
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
		30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute} {
		step = s
		if span/s <= 12 {
			break
		}
	}
	// The first multiple of step (relative to ref) inside the window.
	first := ref.Add(-time.Duration(math.Floor(float64(ref.Sub(sc.t0))/float64(step))) * step)
	var out []Tick
	for t := first; !t.After(sc.t1); t = t.Add(step) {
		out = append(out, Tick{X: sc.x(t), Label: relative(t.Sub(ref))})
	}
	return out
}

func relative(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 0:
		return "−" + dur(-d)
	}
	return "+" + dur(d)
}

func dur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// imageTag shortens an image reference to its last path element.
func imageTag(img string) string {
	if i := strings.LastIndex(img, "/"); i >= 0 {
		return img[i+1:]
	}
	return img
}

func orUnknown(s string) string {
	if s == "" {
		return "(image not recorded)"
	}
	return s
}

func orderText(r cellrun.Report) string {
	if r.Cell.Order.Text == "" {
		return upgrade.OrderAllAtOnce
	}
	return r.Cell.Order.Text
}
