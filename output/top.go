package output

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

// TopRow is one line of `ffdelay top`: a lane, or a partition of a lane.
type TopRow struct {
	Partition int // -1 for a lane's total
	Lane      string
	Due       int64
	Delayed   int64
	// MaxOverdueMs is the oldest due entry's age by its score.
	MaxOverdueMs int64
	// NextDueInMs is when the next entry falls due (-1: none).
	NextDueInMs int64
	// ArrivedPerSec and DrainedPerSec are the trend since the last refresh.
	ArrivedPerSec, DrainedPerSec float64
	// Verdict is draining, growing, stalled or idle (commands decides).
	Verdict string
	// NextHour is what falls due in each 5m of the next hour (a lane's
	// row; nil for a partition's, or before the first reading).
	NextHour []int64
}

// TopView is everything one screen of `ffdelay top` shows.
type TopView struct {
	Server, Product, Release string
	Partitions, Lanes        int
	ServerTimeMs             int64
	RefreshedAgo             time.Duration
	// Conn is "connected", or what went wrong ("lost: ...").
	Conn      string
	Paused    bool
	Sort      string
	PerPart   bool
	Filter    string
	Filtering bool
	Rows      []TopRow
	// Stuck is the footer's finding from a bounded dry run ("" before the
	// first one).
	Stuck string
	Help  bool
}

// topStyles colour the view, or not (--color, NO_COLOR, a terminal).
type topStyles struct {
	head, bad, warn, good, dim lipgloss.Style
}

func newTopStyles(color bool) topStyles {
	if !color {
		return topStyles{}
	}
	// ffdelay has decided (--color, NO_COLOR, a terminal): lipgloss's own
	// look at the process's stdout would drop the colours of --color
	// always on a pipe.
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI)
	return topStyles{
		head: r.NewStyle().Bold(true),
		bad:  r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		warn: r.NewStyle().Foreground(lipgloss.Color("3")),
		good: r.NewStyle().Foreground(lipgloss.Color("2")),
		dim:  r.NewStyle().Faint(true),
	}
}

// topKeys is top's last line.
const topKeys = "q quit  s sort  p partitions  space pause  / filter  ? help"

// RenderTop draws one screen, at most height lines of at most width
// columns (0: no bound, for a snapshot); everything from the server is
// escaped. The title and the connection line always stay on the screen:
// the rows are cut to the room left by the help and the footer, and long
// lines (help, the stuck footer) wrap instead of being cut.
func RenderTop(v TopView, width, height int, color bool) string {
	st := newTopStyles(color)
	conn := v.Conn
	if conn != "connected" {
		conn = st.bad.Render(Safe(conn))
	}
	state := ""
	if v.Paused {
		state = "  " + st.warn.Render("PAUSED")
	}
	wrap := func(s string) []string {
		if width <= 0 {
			return []string{s}
		}
		return strings.Split(ansi.Wrap(s, width, ""), "\n")
	}
	var head []string
	head = append(head, truncate(fmt.Sprintf("%s  %s on %s  FlowFabric %s  %s x %s",
		st.head.Render("ffdelay top"), Safe(v.Product), Safe(v.Server), Safe(v.Release), plural(v.Partitions, "partition"), plural(v.Lanes, "lane")), width))
	head = append(head, truncate(fmt.Sprintf("server time %s  refreshed %s ago  %s%s", formatMs(v.ServerTimeMs), HumanDuration(v.RefreshedAgo), conn, state), width))
	if v.Help {
		head = append(head, "")
		head = append(head, wrap("keys: q quit  s sort (overdue, due, lane)  p partitions  space pause  / filter lanes  ? or Esc close this help")...)
		head = append(head, wrap("verdicts: draining (promoted faster than it falls due), growing (falls due faster), stalled (due, nothing promoted: is a promoter running?), idle")...)
		head = append(head, wrap("next hour: what falls due in each 5 minutes of the next hour, and in all")...)
	}
	sortBy := "sorted by " + v.Sort
	if v.Filter != "" || v.Filtering {
		sortBy += ", lanes matching " + Safe(v.Filter)
		if v.Filtering {
			sortBy += "_"
		}
	}
	head = append(head, st.dim.Render(truncate(sortBy, width)))
	foot := []string{""}
	if v.Stuck != "" {
		foot = append(foot, wrap(Safe(v.Stuck))...)
	}
	foot = append(foot, st.dim.Render(truncate(topKeys, width)))

	rows := [][]string{}
	for _, r := range v.Rows {
		part := "all"
		if r.Partition >= 0 {
			part = fmt.Sprint(r.Partition)
		}
		next := "-"
		if r.NextDueInMs >= 0 {
			next = "in " + HumanDuration(time.Duration(r.NextDueInMs)*time.Millisecond)
		}
		overdue := "-"
		if r.Due > 0 {
			overdue = HumanDuration(time.Duration(r.MaxOverdueMs) * time.Millisecond)
		}
		verdict := r.Verdict
		switch verdict {
		case "stalled":
			verdict = st.bad.Render(verdict)
		case "growing":
			verdict = st.warn.Render(verdict)
		case "draining":
			verdict = st.good.Render(verdict)
		}
		hour := ""
		if r.NextHour != nil {
			var sum int64
			for _, n := range r.NextHour {
				sum += n
			}
			hour = "|" + Spark(r.NextHour) + "| " + count(sum)
		}
		rows = append(rows, []string{Safe(r.Lane), part, count(r.Due), count(r.Delayed), overdue, next,
			fmt.Sprintf("%.0f/s", r.ArrivedPerSec), fmt.Sprintf("%.0f/s", r.DrainedPerSec), verdict, hour})
	}
	header := []string{"LANE", "PART", "DUE", "DELAYED", "MAX OVERDUE", "NEXT DUE", "ARRIVING", "DRAINED", "VERDICT", "NEXT HOUR (5m steps)"}
	table := alignRows(header, rows, map[int]bool{2: true, 3: true, 6: true, 7: true})
	table[0] = st.head.Render(table[0])
	for i := range table {
		table[i] = truncate(table[i], width)
	}
	if len(rows) == 0 {
		table = append(table, "no lanes in scope")
	}
	if room := height - len(head) - len(foot); height > 0 && len(table) > room {
		// The header and as many rows as fit, then one line for the rest.
		keep := max(1, room-1)
		hidden := len(table) - keep
		table = append(table[:keep:keep], fmt.Sprintf("... and %d more rows (filter with /)", hidden))
	}
	// No newline after the last line: one more would make the screen a
	// line taller than the terminal, and scroll the title off.
	return strings.Join(append(append(head, table...), foot...), "\n")
}

// alignRows pads cells to their column's width (right-aligned where asked).
func alignRows(header []string, rows [][]string, right map[int]bool) []string {
	all := append([][]string{header}, rows...)
	widths := make([]int, len(header))
	for _, r := range all {
		for i, c := range r {
			widths[i] = max(widths[i], lipgloss.Width(c))
		}
	}
	out := make([]string, len(all))
	for n, r := range all {
		cells := make([]string, len(r))
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-lipgloss.Width(c))
			if right[i] {
				cells[i] = pad + c
			} else {
				cells[i] = c + pad
			}
		}
		out[n] = strings.TrimRight(strings.Join(cells, "  "), " ")
	}
	return out
}

func truncate(s string, width int) string {
	if width <= 0 {
		return s
	}
	return ansi.Truncate(s, width, "")
}

// TopSnapshot writes one screen of top without its keys line and with no
// bound on width or height: for stdout that is not a terminal.
func (p *Printer) TopSnapshot(v TopView) {
	screen := RenderTop(v, 0, 0, p.color)
	// The keys line is always the last (styled when colour is on).
	if i := strings.LastIndexByte(screen, '\n'); i >= 0 {
		screen = screen[:i]
	}
	p.out.WriteString(strings.TrimRight(screen, "\n") + "\n")
}
