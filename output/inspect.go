package output

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fatih/color"
	"github.com/flowfabric/ffdelay/internal/model"
)

// coreFields are shown first, in this order; the rest follow sorted.
var coreFields = []string{"lifecycle_phase", "eligibility_state", "public_state", "ownership_state", "blocking_reason",
	"blocking_detail", "delay_until", "attempt_state", "terminal_outcome", "namespace", "lane_id", "priority", "created_at"}

// UUIDNotFound is the inspection of a bare uuid that no partition holds.
func UUIDNotFound(uuid string, partitions int) model.Inspection {
	return model.Inspection{ExecutionID: uuid, Partition: -1,
		Diagnosis: fmt.Sprintf("no execution with this uuid: no core {fp:N}:%s in any of the %d partitions (check the id, --url and --partitions)", uuid, partitions)}
}

// Inspect writes inspected executions.
func (p *Printer) Inspect(list []model.Inspection) {
	for i := range list {
		if list[i].Core == nil {
			list[i].Core = map[string]string{}
		}
		if list[i].Tags == nil {
			list[i].Tags = map[string]string{}
		}
	}
	switch p.Format {
	case JSON:
		p.writeJSON(map[string]any{"executions": list})
		p.out.WriteString("\n")
	case NDJSON:
		for _, ins := range list {
			p.line("execution", ins)
		}
		found := 0
		for _, ins := range list {
			if ins.Found {
				found++
			}
		}
		p.line("summary", map[string]any{"executions": len(list), "found": found})
	default:
		for i, ins := range list {
			if i > 0 {
				p.out.WriteString("\n")
			}
			p.inspectTable(ins)
		}
	}
}

func (p *Printer) inspectTable(ins model.Inspection) {
	diag := ins.Diagnosis
	switch {
	case !ins.Found || ins.Stuck:
		diag = p.paint(color.FgRed, diag)
	case strings.HasPrefix(diag, "due"):
		diag = p.paint(color.FgYellow, diag)
	}
	fmt.Fprintf(p.out, "%s\n", p.bold(Safe(ins.ExecutionID)))
	partition := strconv.Itoa(ins.Partition)
	if ins.Partition < 0 {
		partition = "-"
	}
	rows := [][]string{
		{"partition", partition},
		{"lane", orDash(Safe(ins.Lane))},
		{"diagnosis", diag},
		{"delayed set", setLine(ins.InDelayed, ins.DelayedScore, true)},
		{"eligible set", setLine(ins.InEligible, ins.EligibleScore, false)},
	}
	if len(ins.Core) == 0 {
		rows = append(rows, []string{"core", "(missing)"})
	} else {
		shown := map[string]bool{}
		for _, f := range coreFields {
			if v, ok := ins.Core[f]; ok {
				rows = append(rows, []string{f, quoteEmpty(Safe(v)) + whenText(v, ins.ServerTimeMs)})
				shown[f] = true
			}
		}
		var rest []string
		for f := range ins.Core {
			if !shown[f] {
				rest = append(rest, f)
			}
		}
		sort.Strings(rest)
		for _, f := range rest {
			if v := ins.Core[f]; v != "" {
				rows = append(rows, []string{Safe(f), Safe(v) + whenText(v, ins.ServerTimeMs)})
			}
		}
	}
	var tags []string
	for k, v := range ins.Tags {
		tags = append(tags, Safe(k)+"="+Safe(v))
	}
	sort.Strings(tags)
	if len(tags) > 0 {
		rows = append(rows, []string{"tags", strings.Join(tags, " ")})
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(p.out, "  %-*s  %s\n", width, r[0], r[1])
	}
}

// maxTimeMs bounds what is read as a time in ms: the year 2200.
const maxTimeMs = 7258118400000

// whenText is the human date a core field's epoch-ms value stands for, and
// how long ago or ahead it is by the server's clock: " (2026-12-06
// 15:20:00.008Z, 5m00s ago)"; "" for a value that is not such a time.
func whenText(v string, nowMs int64) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < model.MinDueTimeMs || f > maxTimeMs {
		return ""
	}
	ms := int64(f)
	when := ""
	switch {
	case nowMs <= 0:
	case ms <= nowMs:
		when = ", " + HumanDuration(time.Duration(nowMs-ms)*time.Millisecond) + " ago"
	default:
		when = ", in " + HumanDuration(time.Duration(ms-nowMs)*time.Millisecond)
	}
	return " (" + formatMs(ms) + when + ")"
}

func setLine(in bool, score *model.Score, delayed bool) string {
	if !in || score == nil {
		return "-"
	}
	f := float64(*score)
	s := strconv.FormatFloat(f, 'f', -1, 64)
	switch {
	case math.IsInf(f, 0) || math.IsNaN(f):
		return "score " + s + " (not a time)"
	case delayed && f < model.MinDueTimeMs:
		return "score " + s + " (not a due time: an eligible-style score)"
	case delayed:
		return "score " + s + " (" + formatMs(int64(f)) + ")"
	}
	return "score " + s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
