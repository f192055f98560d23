package output

import (
	"fmt"
	"strconv"
	"time"

	"github.com/fatih/color"
	"github.com/flowfabric/ffdelay/internal/model"
)

// ListHeader is what list knows before the first group.
type ListHeader struct {
	ServerTimeMs int64    `json:"server_time_ms"`
	Partitions   int      `json:"partitions"`
	Lanes        []string `json:"lanes"`
	Executions   bool     `json:"-"`
	// Scanned is how many partitions were read (the scope, not the count).
	Scanned int `json:"-"`
	// NoData: the server holds no FlowFabric data at all (the warning on
	// stderr says so; the table says no "nothing due").
	NoData bool `json:"-"`
}

// ListWriter streams list groups out.
type ListWriter struct {
	p     *Printer
	h     ListHeader
	n     int
	rows  [][]string
	execs [][]string
}

// BeginList starts list output.
func (p *Printer) BeginList(h ListHeader) *ListWriter {
	if h.Lanes == nil {
		h.Lanes = []string{}
	}
	w := &ListWriter{p: p, h: h}
	if p.Format == JSON {
		b, _ := jsonMarshal(h)
		p.out.Write(b[:len(b)-1])
		p.out.WriteString(`,"groups":[`)
	}
	return w
}

// Group writes one group.
func (w *ListWriter) Group(g model.Group) {
	p := w.p
	if g.Executions == nil {
		// Every documented field is always there: [] without --executions.
		g.Executions = []model.DueExecution{}
	}
	switch p.Format {
	case JSON:
		if w.n > 0 {
			p.out.WriteByte(',')
		}
		p.writeJSON(g)
	case NDJSON:
		p.line("group", g)
	default:
		lane := Safe(g.Lane)
		if g.Unregistered {
			lane += p.paint(color.FgYellow, " (unregistered)")
		}
		w.rows = append(w.rows, []string{strconv.Itoa(g.Partition), lane, count(g.Delayed), count(g.Due),
			w.overdue(g.MaxOverdueMs, g.OldestDueMs != nil), nextDue(g.NextDueMs, g.ServerTimeMs)})
		for _, e := range g.Executions {
			w.execs = append(w.execs, []string{strconv.Itoa(g.Partition), Safe(g.Lane), Safe(e.ExecutionID),
				time.UnixMilli(e.DelayUntilMs).UTC().Format("2006-01-02 15:04:05Z"), w.overdue(e.OverdueMs, true)})
		}
	}
	w.n++
}

func (w *ListWriter) overdue(ms int64, has bool) string {
	if !has {
		return "-"
	}
	s := HumanDuration(time.Duration(ms) * time.Millisecond)
	switch {
	case ms >= 60_000:
		return w.p.paint(color.FgRed, s)
	case ms >= 1_000:
		return w.p.paint(color.FgYellow, s)
	}
	return s
}

func nextDue(next *int64, now int64) string {
	if next == nil {
		return "-"
	}
	return "in " + HumanDuration(time.Duration(*next-now)*time.Millisecond)
}

// End writes the totals and closes the document.
func (w *ListWriter) End(t model.ListTotals) {
	p := w.p
	switch p.Format {
	case JSON:
		p.out.WriteString(`],"totals":`)
		p.writeJSON(t)
		p.out.WriteString("}\n")
	case NDJSON:
		p.line("summary", struct {
			ListHeader
			Totals model.ListTotals `json:"totals"`
		}{w.h, t})
	default:
		if len(w.rows) > 0 {
			// Overdue figures come from the set's score: the due time its
			// writer intended (the core's delay_until may differ).
			p.table([]string{"PARTITION", "LANE", "DELAYED", "DUE", "OVERDUE (BY SCORE)", "NEXT DUE"}, w.rows, map[int]bool{0: true, 2: true, 3: true})
		}
		if len(w.execs) > 0 {
			p.out.WriteString("\n")
			p.table([]string{"PARTITION", "LANE", "EXECUTION", "DUE (SCORE, UTC)", "OVERDUE"}, w.execs, map[int]bool{0: true})
		}
		if len(w.rows) > 0 {
			p.out.WriteString("\n")
		}
		scanned := w.h.Scanned
		if scanned == 0 {
			scanned = w.h.Partitions
		}
		summary := fmt.Sprintf("%s due, %s delayed in %s x %s (server time %s)",
			count(t.Due), count(t.Delayed), plural(scanned, "partition"), plural(len(w.h.Lanes), "lane"), formatMs(w.h.ServerTimeMs))
		if t.Due == 0 {
			summary = "nothing due: " + summary
		}
		if !w.h.NoData {
			p.out.WriteString(summary + "\n")
		}
		if t.Misplaced > 0 {
			what := count(t.Misplaced) + " due entries have scores that are not due times"
			if t.Misplaced == 1 {
				what = "1 due entry has a score that is not a due time"
			}
			p.out.WriteString(p.paint(color.FgYellow, what+" (an eligible-style score left in a delayed set): not counted as overdue; see ffdelay audit or promote --dry-run\n"))
		}
	}
}

// FormatMs prints epoch milliseconds as UTC time.
func formatMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000Z")
}

// count prints an integer with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
