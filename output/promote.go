package output

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fatih/color"
	"github.com/flowfabric/ffdelay/internal/model"
)

// PromoteHeader is what promote knows before the first result.
type PromoteHeader struct {
	ServerTimeMs int64 `json:"server_time_ms"`
	DryRun       bool  `json:"dry_run"`
	// Repair: --repair (a dry run's would_repair then counts as repaired
	// in the table, as the real run's repaired).
	Repair bool `json:"-"`
	// Verbose lists every result in the table, not only the notable ones.
	Verbose bool `json:"-"`
}

// maxTableRows bounds the rows of execution results a table lists (promote
// without --verbose, audit): past it, one line says how many more and how
// to see them.
const maxTableRows = 50

// PromoteWriter streams promote results out.
type PromoteWriter struct {
	p       *Printer
	h       PromoteHeader
	n       int
	lanes   map[string]*model.PromoteTotals
	notable [][]string
	hidden  int
	// filtered counts skipped_filter results, listed only with -v.
	filtered int
	// buf is reused for each JSON result.
	buf []byte
}

// BeginPromote starts promote output.
func (p *Printer) BeginPromote(h PromoteHeader) *PromoteWriter {
	w := &PromoteWriter{p: p, h: h, lanes: map[string]*model.PromoteTotals{}}
	if p.Format == JSON {
		b, _ := jsonMarshal(h)
		p.out.Write(b[:len(b)-1])
		p.out.WriteString(`,"results":[`)
	}
	return w
}

// Result writes one execution's outcome.
func (w *PromoteWriter) Result(r model.Result) {
	r = word(r)
	p := w.p
	t := w.lanes[r.Lane]
	if t == nil {
		t = &model.PromoteTotals{}
		w.lanes[r.Lane] = t
	}
	t.AddResult(r)
	switch p.Format {
	case JSON:
		if w.n > 0 {
			p.out.WriteByte(',')
		}
		w.buf = appendResult(w.buf[:0], r)
		p.out.Write(w.buf)
	case NDJSON:
		w.buf = appendResultFields(append(w.buf[:0], `{"type":"result",`...), r)
		w.buf = append(w.buf, '\n')
		p.out.Write(w.buf)
	default:
		if r.Outcome == model.SkippedFilter && !w.h.Verbose {
			w.filtered++
		} else if w.h.Verbose || notable(r.Outcome) {
			if len(w.notable) < maxTableRows || w.h.Verbose {
				w.notable = append(w.notable, []string{strconv.Itoa(r.Partition), Safe(r.Lane), Safe(r.ExecutionID),
					w.outcome(r.Outcome), Safe(firstOf(r.Reason, r.Error))})
			} else {
				w.hidden++
			}
		}
	}
	w.n++
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// notable outcomes are listed in the table: everything that is not a plain
// (would-be) promotion.
func notable(o model.Outcome) bool {
	return o != model.Promoted && o != model.WouldPromote
}

func (w *PromoteWriter) outcome(o model.Outcome) string {
	switch o {
	case model.Promoted, model.WouldPromote:
		return w.p.paint(color.FgGreen, string(o))
	case model.Failed, model.WouldFail, model.NeedsRepair:
		return w.p.paint(color.FgRed, string(o))
	case model.NotYetDue, model.SkippedFilter, model.SkippedBackoff, model.NotInDelayedSet:
		return string(o)
	}
	return w.p.paint(color.FgYellow, string(o))
}

// PromoteEnd is what promote reports when it finishes.
type PromoteEnd struct {
	Totals      model.PromoteTotals
	Elapsed     time.Duration
	Interrupted bool
	// Lost is set when the server was lost mid-run.
	Lost string
	// Limit is --limit (0: none); LimitReached says the run stopped at it.
	Limit        int64
	LimitReached bool
	// RemainingDue is how many entries due when the run was planned are
	// still in their delayed sets.
	RemainingDue int64
	// Batches says how FCALL batches were sized (nil in a dry run).
	Batches *model.BatchStats
	// OutOfScope is due work found in lanes the run left out (nil: none,
	// or not looked for).
	OutOfScope *model.OutOfScope
}

// End writes the totals and closes the document.
func (w *PromoteWriter) End(e PromoteEnd) {
	p := w.p
	switch p.Format {
	case JSON:
		p.out.WriteString(`],"totals":`)
		p.writeJSON(e.Totals)
		p.out.WriteString(`,"lanes":`)
		p.writeJSON(w.laneTotals())
		fmt.Fprintf(p.out, `,"duration_ms":%d,"interrupted":%t,"limit_reached":%t,"remaining_due":%d`,
			e.Elapsed.Milliseconds(), e.Interrupted, e.LimitReached, e.RemainingDue)
		if e.Batches != nil {
			p.out.WriteString(`,"batches":`)
			p.writeJSON(e.Batches)
		}
		if e.OutOfScope != nil {
			p.out.WriteString(`,"out_of_scope":`)
			p.writeJSON(e.OutOfScope)
		}
		p.out.WriteString("}\n")
	case NDJSON:
		sum := map[string]any{"server_time_ms": w.h.ServerTimeMs, "dry_run": w.h.DryRun,
			"totals": e.Totals, "lanes": w.laneTotals(), "duration_ms": e.Elapsed.Milliseconds(), "interrupted": e.Interrupted,
			"limit_reached": e.LimitReached, "remaining_due": e.RemainingDue}
		if e.Batches != nil {
			sum["batches"] = e.Batches
		}
		if e.OutOfScope != nil {
			sum["out_of_scope"] = e.OutOfScope
		}
		p.line("summary", sum)
	default:
		if len(w.lanes) > 0 {
			w.laneTable()
			p.out.WriteString("\n")
		}
		if len(w.notable) > 0 {
			// Results arrive from concurrent pipelines: sort them.
			sort.SliceStable(w.notable, func(i, j int) bool {
				a, _ := strconv.Atoi(w.notable[i][0])
				b, _ := strconv.Atoi(w.notable[j][0])
				if a != b {
					return a < b
				}
				return w.notable[i][1] < w.notable[j][1]
			})
			p.table([]string{"PARTITION", "LANE", "EXECUTION", "OUTCOME", "DETAIL"}, w.notable, map[int]bool{0: true})
			if w.hidden > 0 {
				fmt.Fprint(p.out, moreRows(w.hidden, "--verbose or -o json"))
			}
			p.out.WriteString("\n")
		}
		if w.filtered > 0 {
			fmt.Fprintf(p.out, "%s skipped by --namespace/--tag (-v lists them)\n\n", count(int64(w.filtered)))
		}
		p.out.WriteString(w.summaryLine(e) + "\n")
	}
}

// laneTotals are the totals per lane, as the table shows them.
func (w *PromoteWriter) laneTotals() map[string]model.PromoteTotals {
	out := make(map[string]model.PromoteTotals, len(w.lanes))
	for l, t := range w.lanes {
		out[l] = *t
	}
	return out
}

// laneTable has the same columns in the same order for a dry run and a
// real one, so the same executions land in the same column: what a dry
// run would do is counted where the real run's outcome would be (a
// would_repair under NEEDS REPAIR, or REPAIRED with --repair; a would_fail
// under FAILED), and the line above the table says the counts are what
// would happen. NEEDS REPAIR is apart from FAILED here (the JSON counts
// needs_repair within failed, as the contract has it).
func (w *PromoteWriter) laneTable() {
	lanes := make([]string, 0, len(w.lanes))
	unconfirmed, notSent := false, false
	for l, t := range w.lanes {
		lanes = append(lanes, l)
		unconfirmed = unconfirmed || t.Unconfirmed > 0
		notSent = notSent || t.NotSent > 0
	}
	sort.Strings(lanes)
	header := []string{"LANE", "PROMOTED", "CLEANED", "REPAIRED", "NEEDS REPAIR", "NOT YET DUE", "SKIPPED", "FAILED"}
	if unconfirmed {
		// Calls whose reply was lost: shown only when there are some.
		header = append(header, "UNCONFIRMED")
	}
	if notSent {
		header = append(header, "NOT SENT")
	}
	var rows [][]string
	for _, l := range lanes {
		t := w.lanes[l]
		promoted, cleaned, repaired, needsRepair, failed := t.Promoted, t.Cleaned, t.Repaired, t.NeedsRepair, t.Failed-t.NeedsRepair
		if w.h.DryRun {
			promoted, cleaned, failed = t.WouldPromote, t.WouldClean, t.WouldFail+t.Failed-t.NeedsRepair
			if w.h.Repair {
				repaired = t.WouldRepair
			} else {
				needsRepair = t.WouldRepair
			}
		}
		row := []string{Safe(l), count(promoted), count(cleaned), count(repaired), count(needsRepair), count(t.NotYetDue), count(t.Skipped), count(failed)}
		if unconfirmed {
			row = append(row, count(t.Unconfirmed))
		}
		if notSent {
			row = append(row, count(t.NotSent))
		}
		rows = append(rows, row)
	}
	right := map[int]bool{}
	for i := 1; i < len(header); i++ {
		right[i] = true
	}
	if w.h.DryRun {
		w.p.out.WriteString("dry run: nothing was written; the counts say what promote would do\n")
	}
	w.p.table(header, rows, right)
}

func (w *PromoteWriter) summaryLine(e PromoteEnd) string {
	t := e.Totals
	var parts []string
	if w.h.DryRun {
		parts = append(parts, "dry run: would promote "+count(t.WouldPromote))
		if t.WouldClean > 0 {
			parts = append(parts, "would clean "+count(t.WouldClean))
		}
		if t.WouldFail > 0 {
			parts = append(parts, w.p.paint(color.FgRed, "would fail "+count(t.WouldFail)))
		}
		if t.WouldRepair > 0 {
			parts = append(parts, w.p.paint(color.FgYellow, "would need repair "+count(t.WouldRepair)+" (promote --repair fixes them)"))
		}
	} else {
		s := "promoted " + count(t.Promoted)
		if secs := e.Elapsed.Seconds(); t.Promoted > 0 && secs > 0 {
			if rate := float64(t.Promoted) / secs; rate >= 10 {
				s += fmt.Sprintf(" (%s/s)", count(int64(rate)))
			} else {
				s += fmt.Sprintf(" (%.1f/s)", rate)
			}
		}
		parts = append(parts, s)
		if t.Repaired > 0 {
			parts = append(parts, "repaired "+count(t.Repaired))
		}
		if t.PromotedElsewhere > 0 {
			parts = append(parts, "promoted by another promoter "+count(t.PromotedElsewhere))
		}
		if t.Cleaned > 0 {
			parts = append(parts, "cleaned "+count(t.Cleaned))
		}
	}
	if t.NotYetDue > 0 {
		parts = append(parts, "not yet due "+count(t.NotYetDue))
	}
	if t.Skipped > 0 {
		parts = append(parts, "skipped "+count(t.Skipped))
	}
	if t.Failed > 0 {
		parts = append(parts, w.p.paint(color.FgRed, "failed "+count(t.Failed)))
	}
	if t.Unconfirmed > 0 {
		parts = append(parts, w.p.paint(color.FgYellow, "unconfirmed "+count(t.Unconfirmed)+" (replies lost: they may have been promoted)"))
	}
	if t.NotSent > 0 {
		parts = append(parts, w.p.paint(color.FgYellow, "not sent "+count(t.NotSent)+notSentNote))
	}
	line := strings.Join(parts, ", ") + " in " + HumanDuration(e.Elapsed)
	if t.NeedsRepair > 0 {
		line += fmt.Sprintf(" (%s need repair: run promote --repair)", count(t.NeedsRepair))
	}
	if e.Interrupted {
		line += " (interrupted: stopped after the batch in flight)"
	}
	if e.Lost != "" {
		line += " (stopped: " + e.Lost + ")"
	}
	if e.LimitReached {
		line += fmt.Sprintf(" (--limit %s reached; %s due remain)", count(e.Limit), count(e.RemainingDue))
	}
	return line
}

// Failure is one failed execution in a watch cycle.
type Failure struct {
	Partition   int    `json:"partition"`
	Lane        string `json:"lane"`
	ExecutionID string `json:"execution_id"`
	Outcome     string `json:"outcome"`
	// Error is the server's error text, or the reason when there is none
	// (needs_repair: ffdelay did not call the function).
	Error  string `json:"error"`
	Reason string `json:"reason,omitempty"`
}

// NewFailure is a failed result as a watch cycle reports it.
func NewFailure(r model.Result) Failure {
	r = word(r)
	errText := r.Error
	if errText == "" {
		errText = r.Reason
	}
	return Failure{Partition: r.Partition, Lane: r.Lane, ExecutionID: r.ExecutionID, Outcome: string(r.Outcome), Error: errText, Reason: r.Reason}
}

// Cycle is one pass of promote --watch.
type Cycle struct {
	Cycle      int                 `json:"cycle"`
	StartedMs  int64               `json:"started_ms"`
	DurationMs int64               `json:"duration_ms"`
	Totals     model.PromoteTotals `json:"totals"`
	Failures   []Failure           `json:"failures"`
	// Error is set when the cycle could not run (server lost).
	Error string `json:"error,omitempty"`
}

// WatchCycle writes one cycle: an NDJSON line, or a table line when
// something happened.
func (p *Printer) WatchCycle(c Cycle) {
	if c.Failures == nil {
		c.Failures = []Failure{}
	}
	if p.Machine() {
		p.line("cycle", c)
		p.out.Flush()
		return
	}
	t := c.Totals
	if c.Error == "" && t.Promoted == 0 && t.Cleaned == 0 && t.Failed == 0 && len(c.Failures) == 0 {
		return
	}
	line := fmt.Sprintf("%s  cycle %d: promoted %s, cleaned %s, not yet due %s, skipped %s, failed %s (%s)",
		formatMs(c.StartedMs), c.Cycle, count(t.Promoted), count(t.Cleaned), count(t.NotYetDue), count(t.Skipped), count(t.Failed),
		HumanDuration(time.Duration(c.DurationMs)*time.Millisecond))
	if c.Error != "" {
		line = fmt.Sprintf("%s  cycle %d: %s", formatMs(c.StartedMs), c.Cycle, p.paint(color.FgRed, c.Error))
		if t.Promoted > 0 || t.Unconfirmed > 0 || t.NotSent > 0 {
			line += fmt.Sprintf(" (promoted %s before, %s unconfirmed, %s not sent)", count(t.Promoted), count(t.Unconfirmed), count(t.NotSent))
		}
	}
	p.out.WriteString(line + "\n")
	for _, f := range c.Failures {
		fmt.Fprintf(p.out, "    %s  %s  %s  %s\n", strconv.Itoa(f.Partition), Safe(f.Lane), Safe(f.ExecutionID), p.paint(color.FgRed, Safe(f.Error)))
	}
	p.out.Flush()
}

// WatchSummary is written when promote --watch stops.
type WatchSummary struct {
	Cycles     int                 `json:"cycles"`
	Totals     model.PromoteTotals `json:"totals"`
	DurationMs int64               `json:"duration_ms"`
	LastFailed bool                `json:"last_cycle_failed"`
}

// WatchEnd writes the summary of a watch run.
func (p *Printer) WatchEnd(s WatchSummary) {
	if p.Machine() {
		p.line("summary", s)
		return
	}
	t := s.Totals
	line := fmt.Sprintf("watch stopped after %s in %s: promoted %s, cleaned %s, skipped %s, failed %s",
		plural(s.Cycles, "cycle"), HumanDuration(time.Duration(s.DurationMs)*time.Millisecond), count(t.Promoted), count(t.Cleaned), count(t.Skipped), count(t.Failed))
	if t.Unconfirmed > 0 {
		line += fmt.Sprintf(", unconfirmed %s (replies lost: they may have been promoted)", count(t.Unconfirmed))
	}
	if t.NotSent > 0 {
		line += ", not sent " + count(t.NotSent) + notSentNote
	}
	fmt.Fprintln(p.out, line)
}

// moreRows is the line under a table that was cut at maxTableRows.
func moreRows(hidden int, how string) string {
	return fmt.Sprintf("... and %s more (%s lists them all)\n", count(int64(hidden)), how)
}

// notSentNote explains the not_sent count wherever it is printed.
const notSentNote = " (never run: refused by the server, or never written on a connection that failed first; still due)"
