package output

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fatih/color"
	"github.com/flowfabric/ffdelay/internal/model"
)

// AuditHeader is what audit knows before the first finding.
type AuditHeader struct {
	ServerTimeMs int64 `json:"server_time_ms"`
	Partitions   int   `json:"partitions"`
	Repair       bool  `json:"-"`
}

// AuditEnd is what audit reports when it finishes.
type AuditEnd struct {
	// NoData: the server holds no FlowFabric data at all.
	NoData  bool
	Scanned int64
	Totals  model.AuditTotals
	// Scope is how many partitions were walked.
	Scope int
}

// AuditWriter streams audit findings out.
type AuditWriter struct {
	p      *Printer
	h      AuditHeader
	n      int
	rows   [][]string
	hidden int
}

// BeginAudit starts audit output.
func (p *Printer) BeginAudit(h AuditHeader) *AuditWriter {
	w := &AuditWriter{p: p, h: h}
	if p.Format == JSON {
		b, _ := jsonMarshal(h)
		p.out.Write(b[:len(b)-1])
		p.out.WriteString(`,"executions":[`)
	}
	return w
}

// Finding writes one execution.
func (w *AuditWriter) Finding(f model.AuditFinding) {
	p := w.p
	switch p.Format {
	case JSON:
		if w.n > 0 {
			p.out.WriteByte(',')
		}
		p.writeJSON(f)
	case NDJSON:
		p.line("execution", f)
	default:
		if len(w.rows) >= maxTableRows {
			w.hidden++
			break
		}
		state := p.paint(color.FgRed, "not repaired")
		switch {
		case f.Repaired:
			state = p.paint(color.FgGreen, "repaired")
		case f.Error != "":
			state = p.paint(color.FgRed, f.Error)
		case !w.h.Repair:
			state = "audit --repair fixes it"
			if f.Problem == model.Duplicated {
				state = "report only: see ffdelay inspect"
			}
		}
		w.rows = append(w.rows, []string{strconv.Itoa(f.Partition), Safe(f.Lane), Safe(f.ExecutionID), auditProblem(f), state})
	}
	w.n++
}

func auditProblem(f model.AuditFinding) string {
	switch f.Problem {
	case model.Stranded:
		if f.InDelayed {
			return "stranded (eligible, sits in the delayed set)"
		}
		return "stranded (eligible, in no set)"
	case model.LostDelayed:
		return "lost_delayed (delayed, in no set)"
	}
	return string(f.Problem) + " (in both sets)"
}

// End writes the totals.
func (w *AuditWriter) End(e AuditEnd) {
	p := w.p
	t := e.Totals
	switch p.Format {
	case JSON:
		p.out.WriteString(`],"scanned":`)
		p.out.WriteString(strconv.FormatInt(e.Scanned, 10))
		p.out.WriteString(`,"totals":`)
		p.writeJSON(t)
		p.out.WriteString("}\n")
	case NDJSON:
		p.line("summary", map[string]any{"scanned": e.Scanned, "totals": t})
	default:
		if len(w.rows) > 0 {
			p.table([]string{"PARTITION", "LANE", "EXECUTION", "PROBLEM", "STATE"}, w.rows, map[int]bool{0: true})
			if w.hidden > 0 {
				fmt.Fprint(p.out, moreRows(w.hidden, "-o json"))
			}
			p.out.WriteString("\n")
		}
		line := fmt.Sprintf("audited %s executions in %s: stranded %s, lost_delayed %s, duplicated %s",
			count(e.Scanned), plural(e.Scope, "partition"), count(t.Stranded), count(t.LostDelayed), count(t.Duplicated))
		for _, extra := range []struct {
			n    int64
			name string
		}{{t.WrongLane, "wrong_lane"}, {t.Foreign, "foreign"}, {t.Unrepairable, "unrepairable"}} {
			if extra.n > 0 {
				line += ", " + extra.name + " " + count(extra.n)
			}
		}
		if w.h.Repair {
			line += ", repaired " + count(t.Repaired)
		}
		switch {
		case e.NoData:
			line = "nothing audited: no FlowFabric data here"
		case t.Remaining() == 0:
			line += " " + p.paint(color.FgGreen, "(all consistent)")
		}
		fmt.Fprintln(p.out, line)
	}
}

// plural writes "1 partition", "3 partitions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if y, ok := strings.CutSuffix(noun, "y"); ok && !strings.HasSuffix(y, "a") && !strings.HasSuffix(y, "e") && !strings.HasSuffix(y, "o") {
		return count(int64(n)) + " " + y + "ies"
	}
	return count(int64(n)) + " " + noun + "s"
}
