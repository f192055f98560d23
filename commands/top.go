package commands

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/urfave/cli/v2"
)

// minTopInterval keeps top's refreshes cheap for the server.
const minTopInterval = 250 * time.Millisecond

// topStuckEvery is how often top runs its bounded dry run for the footer,
// and topStuckBound how many due entries it classifies.
const (
	topStuckEvery = 10 * time.Second
	topStuckBound = 500
)

// topForecastEvery is how often top reads the next hour (12 steps of 5m
// per lane: one ZCOUNT per step and delayed set that is not empty).
const (
	topForecastEvery = 5 * time.Second
	topForecastSteps = 12
	topForecastStep  = 5 * time.Minute
)

type topOptions struct {
	Scope    scopeOptions
	Interval time.Duration
}

func newTopCommand(ctx context.Context, d *deps) *cli.Command {
	return &cli.Command{
		Name:  "top",
		Usage: "a live view of the backlog per lane: is it draining, growing or stalled (read-only)",
		UsageText: `ffdelay top [options]

A full-screen view refreshed every --interval: per lane (p: per partition)
what is due and delayed, the oldest overdue, what falls due and what is
drained per second, and a verdict: draining, growing, stalled (due entries
age and nobody promotes) or idle. Keys: q quit, s sort, p partitions,
space pause, / filter lanes, ? help. It never writes to the server.
Without a terminal it prints one snapshot, as ffdelay list would, and exits.

Examples:
   ffdelay top
   ffdelay top --lane payments --interval 2s`,
		Flags: append(scopeFlags(),
			&cli.StringFlag{Name: flagInterval, Usage: "refresh every `D` (at least 250ms)", Value: "1s"},
		),
		Action: func(c *cli.Context) error {
			if err := setupOutput(c, d); err != nil {
				return err
			}
			o, err := parseTopOptions(c, d)
			if err != nil {
				return err
			}
			conn, err := connOptions(c, d)
			if err != nil {
				return err
			}
			if !d.terminal(d.stdout) {
				// No screen to keep up to date: one snapshot of top's
				// own view, from two readings an interval apart.
				d.printer.Note("stdout is not a terminal: printing one snapshot of two readings %s apart; run top in a terminal for the live view", o.Interval)
				return topSnapshot(ctx, o, conn, d)
			}
			return runTop(ctx, o, conn, d)
		},
	}
}

func parseTopOptions(c *cli.Context, d *deps) (topOptions, error) {
	var o topOptions
	if c.NArg() > 0 {
		return o, usageError("top takes no arguments, got %q", c.Args().First())
	}
	scope, err := parseScopeOptions(c, d)
	if err != nil {
		return o, err
	}
	o.Scope = scope
	if o.Interval, err = parseDuration("--interval", c.String(flagInterval)); err != nil {
		return o, usageError("%v", err)
	}
	if o.Interval < minTopInterval {
		return o, usageError("--interval %s is below %s: top refreshes would load the server for nothing", o.Interval, minTopInterval)
	}
	return o, nil
}

// topModel is top's state between refreshes (Bubble Tea's model).
type topModel struct {
	ctx      context.Context
	o        topOptions
	conn     redisops.Options
	client   *redisops.Client
	scope    resolvedScope
	view     output.TopView
	lastNow  int64
	lastAt   time.Time
	stuckAt  time.Time
	soonAt   time.Time
	nextHour map[string][]int64
	width    int
	height   int
	color    bool
	sorts    []string
	sortIdx  int
	groups   []model.Group
	prevRows map[string]output.TopRow
}

type topTick struct{}

// topData is one refresh's reading. The refresh runs in its own goroutine
// and touches nothing of the model: what it made (a client, the scope, the
// header) comes back here and Update takes it.
type topData struct {
	client *redisops.Client
	header *topHeader
	groups []model.Group
	now    int64
	err    error
	stuck  string
	// nextHour is, per lane, what falls due in each 5m of the next hour
	// (nil when not read this time).
	nextHour map[string][]int64
}

// topHeader is what does not change between refreshes.
type topHeader struct {
	scope             resolvedScope
	server, product   string
	release           string
	partitions, lanes int
}

func runTop(ctx context.Context, o topOptions, conn redisops.Options, d *deps) error {
	m := &topModel{ctx: ctx, o: o, conn: conn, color: d.printer.Colored(),
		sorts: []string{"overdue", "due", "lane"}, width: 100, height: 30}
	m.view.Conn = "connecting"
	m.view.Sort = m.sorts[0]
	defer func() {
		if m.client != nil {
			m.client.Close()
		}
	}()
	// ffdelay's own signal context decides (SIGINT, SIGTERM): the program
	// is asked to quit when it ends, the way q quits, which restores the
	// terminal (Kill's path races inside the input reader).
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithOutput(d.stdout), tea.WithInput(d.stdin), tea.WithoutSignalHandler())
	go func() {
		<-ctx.Done()
		p.Quit()
	}()
	_, err := p.Run()
	if err == tea.ErrProgramKilled || ctx.Err() != nil {
		// A signal: the terminal is restored; that is a clean end.
		return nil
	}
	return err
}

func (m *topModel) Init() tea.Cmd { return m.refresh() }

func (m *topModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyMsg:
		return m, m.key(msg)
	case topTick:
		if m.view.Paused {
			return m, m.tick()
		}
		return m, m.refresh()
	case topData:
		m.apply(msg)
		return m, m.tick()
	}
	return m, nil
}

func (m *topModel) tick() tea.Cmd {
	return tea.Tick(m.o.Interval, func(time.Time) tea.Msg { return topTick{} })
}

func (m *topModel) key(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 {
		// Keys typed (or pasted) faster than one read arrive together:
		// one at a time, so "/pay" starts a filter and types "pay".
		var cmds []tea.Cmd
		for _, r := range k.Runes {
			cmds = append(cmds, m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}}))
		}
		return tea.Batch(cmds...)
	}
	if m.view.Filtering {
		switch k.Type {
		case tea.KeyEnter, tea.KeyEsc:
			m.view.Filtering = false
			if k.Type == tea.KeyEsc {
				m.view.Filter = ""
			}
		case tea.KeyBackspace:
			if n := len(m.view.Filter); n > 0 {
				m.view.Filter = m.view.Filter[:n-1]
			}
		case tea.KeyRunes, tea.KeySpace:
			m.view.Filter += string(k.Runes)
		}
		m.rebuild()
		return nil
	}
	switch k.String() {
	case "q", "ctrl+c":
		return tea.Quit
	case "s":
		m.sortIdx = (m.sortIdx + 1) % len(m.sorts)
		m.view.Sort = m.sorts[m.sortIdx]
	case "p":
		m.view.PerPart = !m.view.PerPart
		// The rows change shape: the trend starts again next refresh.
		m.prevRows = map[string]output.TopRow{}
		for k, r := range m.rowsOf(m.groups) {
			r.Verdict = verdictOf(output.TopRow{}, r.TopRow, 0, 0)
			m.prevRows[k] = r.TopRow
		}
	case " ":
		m.view.Paused = !m.view.Paused
	case "/":
		m.view.Filtering, m.view.Filter = true, ""
	case "?":
		m.view.Help = !m.view.Help
	case "esc":
		m.view.Help = false
	}
	m.rebuild()
	return nil
}

// apply takes a refresh: the connection state, and the trend of each row
// against the previous reading.
func (m *topModel) apply(d topData) {
	if d.client != nil {
		m.client = d.client
	}
	if h := d.header; h != nil {
		m.scope = h.scope
		m.view.Server, m.view.Product, m.view.Release = h.server, h.product, h.release
		m.view.Partitions, m.view.Lanes = h.partitions, h.lanes
	}
	if d.err != nil {
		// A lost server shows as such; the next refresh tries again.
		m.view.Conn = "lost: " + d.err.Error()
		if m.client != nil {
			m.client.Close()
			m.client = nil
		}
		return
	}
	m.view.Conn = "connected"
	if d.stuck != "" {
		m.view.Stuck = d.stuck
	}
	if d.nextHour != nil {
		m.nextHour = d.nextHour
	}
	m.groups = d.groups
	m.view.ServerTimeMs = d.now
	elapsed := float64(d.now-m.lastNow) / 1000
	rows := m.rowsOf(d.groups)
	next := map[string]output.TopRow{}
	for k, r := range rows {
		prev, seen := m.prevRows[k]
		if seen && m.lastNow > 0 && elapsed > 0 {
			arrived := float64(r.arrived)
			// What was due, plus what fell due, less what is due now, left.
			drained := float64(prev.Due) + arrived - float64(r.Due)
			r.ArrivedPerSec, r.DrainedPerSec = arrived/elapsed, max(0, drained)/elapsed
			r.Verdict = verdictOf(prev, r.TopRow, arrived, drained)
		} else {
			r.Verdict = verdictOf(output.TopRow{}, r.TopRow, 0, 0)
		}
		if r.Partition < 0 && m.nextHour != nil {
			r.NextHour = m.nextHour[r.Lane]
			if r.NextHour == nil {
				// Read, and nothing falls due in the lane.
				r.NextHour = make([]int64, topForecastSteps)
			}
		}
		next[k] = r.TopRow
	}
	m.prevRows, m.lastNow, m.lastAt = next, d.now, time.Now()
	m.rebuild()
}

// verdictOf decides a row's verdict from two readings.
func verdictOf(prev, now output.TopRow, arrived, drained float64) string {
	switch {
	case now.Due == 0 && arrived == 0:
		return "idle"
	case drained <= 0 && now.Due > 0 && now.MaxOverdueMs >= prev.MaxOverdueMs:
		return "stalled"
	case now.Due > prev.Due:
		return "growing"
	case now.Due == 0:
		return "idle"
	}
	return "draining"
}

type rowAcc struct {
	output.TopRow
	arrived int64
}

// rowsOf folds the groups into rows: one per lane, or per partition and
// lane; every lane in scope has its row.
func (m *topModel) rowsOf(groups []model.Group) map[string]*rowAcc {
	rows := map[string]*rowAcc{}
	get := func(p int, lane string) *rowAcc {
		if !m.view.PerPart {
			p = -1
		}
		k := fmt.Sprintf("%d\x00%s", p, lane)
		r := rows[k]
		if r == nil {
			r = &rowAcc{TopRow: output.TopRow{Partition: p, Lane: lane, NextDueInMs: -1}}
			rows[k] = r
		}
		return r
	}
	if !m.view.PerPart {
		for _, l := range m.scope.allLanes() {
			get(-1, l)
		}
	}
	for _, g := range groups {
		r := get(g.Partition, g.Lane)
		r.Due += g.Due
		r.Delayed += g.Delayed
		r.arrived += g.NewlyDue
		r.MaxOverdueMs = max(r.MaxOverdueMs, g.MaxOverdueMs)
		if g.NextDueMs != nil {
			in := *g.NextDueMs - g.ServerTimeMs
			if r.NextDueInMs < 0 || in < r.NextDueInMs {
				r.NextDueInMs = in
			}
		}
	}
	return rows
}

// rebuild sorts and filters the rows for the screen.
func (m *topModel) rebuild() {
	var rows []output.TopRow
	for _, r := range m.prevRows {
		if m.view.Filter != "" && !strings.Contains(r.Lane, m.view.Filter) {
			continue
		}
		if m.view.PerPart != (r.Partition >= 0) {
			continue
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		switch m.view.Sort {
		case "overdue":
			if a.MaxOverdueMs != b.MaxOverdueMs {
				return a.MaxOverdueMs > b.MaxOverdueMs
			}
		case "due":
			if a.Due != b.Due {
				return a.Due > b.Due
			}
		}
		if a.Lane != b.Lane {
			return a.Lane < b.Lane
		}
		return a.Partition < b.Partition
	})
	m.view.Rows = rows
	if !m.lastAt.IsZero() {
		m.view.RefreshedAgo = time.Since(m.lastAt)
	}
}

func (m *topModel) View() string {
	return output.RenderTop(m.view, m.width, m.height, m.color)
}
