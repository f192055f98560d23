package output

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fatih/color"
	"github.com/flowfabric/ffdelay/internal/model"
)

// ForecastStep is one step of the window: what falls due from FromMs
// (exclusive) to ToMs (inclusive), in all and per lane.
type ForecastStep struct {
	FromMs int64            `json:"from_ms"`
	ToMs   int64            `json:"to_ms"`
	Total  int64            `json:"total"`
	Lanes  map[string]int64 `json:"lanes"`
}

// ForecastReport is forecast's document (the contract's JSON shape).
type ForecastReport struct {
	ServerTimeMs int64            `json:"server_time_ms"`
	WindowMs     int64            `json:"window_ms"`
	StepMs       int64            `json:"step_ms"`
	DueNow       int64            `json:"due_now"`
	DueNowLanes  map[string]int64 `json:"due_now_lanes"`
	Steps        []ForecastStep   `json:"steps"`
	Beyond       int64            `json:"beyond"`
	BeyondLanes  map[string]int64 `json:"beyond_lanes"`
	Lanes        []string         `json:"lanes"`
}

// ForecastTable is what only the table needs.
type ForecastTable struct {
	// Partitions is how many partitions were read.
	Partitions int
	// NoData: the server holds no FlowFabric data at all.
	NoData bool
}

// NewForecastReport lays the counts out in steps of the window; lanes are
// the lanes in scope (every one gets its counts, 0 when empty).
func NewForecastReport(fc model.Forecast, step, window time.Duration, lanes []string) ForecastReport {
	r := ForecastReport{ServerTimeMs: fc.ServerTimeMs, WindowMs: window.Milliseconds(), StepMs: step.Milliseconds(),
		DueNowLanes: map[string]int64{}, BeyondLanes: map[string]int64{}, Steps: make([]ForecastStep, len(fc.EndsMs))}
	seen := map[string]bool{}
	for _, l := range lanes {
		seen[l] = true
	}
	for l := range fc.Lanes {
		if !seen[l] {
			seen[l] = true
			lanes = append(lanes, l)
		}
	}
	sort.Strings(lanes)
	r.Lanes = lanes
	from := fc.ServerTimeMs
	for i, end := range fc.EndsMs {
		r.Steps[i] = ForecastStep{FromMs: from, ToMs: end, Lanes: map[string]int64{}}
		from = end
	}
	for _, l := range lanes {
		counts := fc.Lanes[l]
		if counts == nil {
			counts = make([]int64, len(fc.EndsMs)+2)
		}
		r.DueNowLanes[l] = counts[0]
		r.DueNow += counts[0]
		for i := range r.Steps {
			r.Steps[i].Lanes[l] = counts[i+1]
			r.Steps[i].Total += counts[i+1]
		}
		r.BeyondLanes[l] = counts[len(counts)-1]
		r.Beyond += counts[len(counts)-1]
	}
	return r
}

// Forecast writes the report: one JSON document; NDJSON lines of type step,
// then a summary; or a table with a bar per step.
func (p *Printer) Forecast(r ForecastReport, t ForecastTable) {
	switch p.Format {
	case JSON:
		p.writeJSON(r)
		p.out.WriteByte('\n')
	case NDJSON:
		for _, s := range r.Steps {
			p.line("step", s)
		}
		sum := r
		sum.Steps = nil
		p.line("summary", struct {
			ForecastReport
			Steps []ForecastStep `json:"steps,omitempty"`
		}{ForecastReport: sum})
	default:
		p.forecastTable(r, t)
	}
}

// maxForecastLanes is how many lanes get a column of their own (the
// largest); the rest are summed in OTHER.
const maxForecastLanes = 5

// barWidth is the width of the largest step's bar.
const barWidth = 30

func (p *Printer) forecastTable(r ForecastReport, t ForecastTable) {
	lanes, other := forecastColumns(r)
	header := []string{"WHEN", "IN"}
	for _, l := range lanes {
		header = append(header, strings.ToUpper(Safe(l)))
	}
	if len(other) > 0 {
		header = append(header, "OTHER")
	}
	header = append(header, "TOTAL", "")
	right := map[int]bool{}
	for i := 2; i < len(header)-1; i++ {
		right[i] = true
	}
	var largest, largestAt int64 = 0, -1
	for i, s := range r.Steps {
		if s.Total > largest {
			largest, largestAt = s.Total, int64(i)
		}
	}
	row := func(when, in string, perLane map[string]int64, total int64, bar string) []string {
		cells := []string{when, in}
		for _, l := range lanes {
			cells = append(cells, count(perLane[l]))
		}
		if len(other) > 0 {
			var n int64
			for _, l := range other {
				n += perLane[l]
			}
			cells = append(cells, count(n))
		}
		return append(cells, count(total), bar)
	}
	step := time.Duration(r.StepMs) * time.Millisecond
	rows := [][]string{row("due now", "overdue", r.DueNowLanes, r.DueNow, "")}
	for i, s := range r.Steps {
		bar := p.paint(color.FgCyan, Bar(s.Total, largest, barWidth))
		if int64(i) == largestAt {
			bar = p.paint(color.FgYellow, Bar(s.Total, largest, barWidth))
		}
		rows = append(rows, row(clockRange(s.FromMs, s.ToMs, step), untilText(s.FromMs-r.ServerTimeMs), s.Lanes, s.Total, bar))
	}
	window := time.Duration(r.WindowMs) * time.Millisecond
	rows = append(rows, row("later", "in "+compactDuration(window)+"+", r.BeyondLanes, r.Beyond, ""))
	p.table(header, rows, right)
	p.out.WriteString("\n")
	if largestAt >= 0 {
		s := r.Steps[largestAt]
		fmt.Fprintf(p.out, "largest wave: %s due %s, %s\n", count(s.Total), clockRange(s.FromMs, s.ToMs, step), untilText(s.FromMs-r.ServerTimeMs))
	}
	var coming int64
	for _, s := range r.Steps {
		coming += s.Total
	}
	summary := fmt.Sprintf("%s due now, %s in the next %s, %s later, in %s x %s (server time %s)",
		count(r.DueNow), count(coming), compactDuration(window), count(r.Beyond), plural(t.Partitions, "partition"), plural(len(r.Lanes), "lane"), formatMs(r.ServerTimeMs))
	if t.NoData {
		summary = "no FlowFabric data: " + summary
	}
	p.out.WriteString(summary + "\n")
}

// forecastColumns picks the lanes with a column of their own: all of them
// when they are few, else the largest (by what the window holds) and the
// rest, summed.
func forecastColumns(r ForecastReport) (lanes, other []string) {
	if len(r.Lanes) <= maxForecastLanes+1 {
		return r.Lanes, nil
	}
	total := map[string]int64{}
	for _, s := range r.Steps {
		for l, n := range s.Lanes {
			total[l] += n
		}
	}
	byTotal := append([]string{}, r.Lanes...)
	sort.SliceStable(byTotal, func(i, j int) bool { return total[byTotal[i]] > total[byTotal[j]] })
	keep := map[string]bool{}
	for _, l := range byTotal[:maxForecastLanes] {
		keep[l] = true
	}
	for _, l := range r.Lanes {
		if keep[l] {
			lanes = append(lanes, l)
		} else {
			other = append(other, l)
		}
	}
	return lanes, other
}

// eighths are the block characters one to seven eighths wide.
var eighths = []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// Bar draws n against max as up to width block characters, in eighths of
// one; any n above 0 shows at least a sliver.
func Bar(n, max int64, width int) string {
	if n <= 0 || max <= 0 {
		return ""
	}
	units := int(n * int64(width) * 8 / max)
	if units == 0 {
		units = 1
	}
	return strings.Repeat("█", units/8) + eighths[units%8]
}

// Spark draws counts as one line of block characters of eight heights,
// scaled to the largest: the shape of a wave at a glance.
func Spark(counts []int64) string {
	const levels = "▁▂▃▄▅▆▇█"
	var top int64
	for _, n := range counts {
		top = max(top, n)
	}
	var b strings.Builder
	for _, n := range counts {
		switch {
		case n <= 0:
			b.WriteString(" ")
		default:
			i := int((n*8 - 1) / max(top, 1))
			b.WriteString(string([]rune(levels)[min(i, 7)]))
		}
	}
	return b.String()
}

// untilText is how long until a step starts: "now" for the first.
func untilText(ms int64) string {
	if ms <= 0 {
		return "now"
	}
	return "in " + HumanDuration(time.Duration(ms)*time.Millisecond)
}

// clockRange is a step's time range on the server's clock: HH:MM-HH:MM,
// with seconds when the step is shorter than a minute.
func clockRange(fromMs, toMs int64, step time.Duration) string {
	layout := "15:04"
	if step < time.Minute || step%time.Minute != 0 {
		layout = "15:04:05"
	}
	return time.UnixMilli(fromMs).UTC().Format(layout) + "-" + time.UnixMilli(toMs).UTC().Format(layout)
}

// compactDuration is a whole duration the short way: 0, 30s, 5m, 1h,
// 1h30m, 2d.
func compactDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Hour && d%time.Minute == 0:
		return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0 && d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return HumanDuration(d)
}
