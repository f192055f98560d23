package commands

// What top reads from the server on each refresh (the backlog, the next
// hour, now and then the stuck footer), and its one snapshot for a pipe.

import (
	"context"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
)

// refresh reads the backlog (list's pipelined reads) and, now and then,
// runs a bounded dry run for the stuck footer. Nothing is written.
func (m *topModel) refresh() tea.Cmd {
	since := m.lastNow
	stuck := time.Since(m.stuckAt) > topStuckEvery
	if stuck {
		m.stuckAt = time.Now()
	}
	soon := time.Since(m.soonAt) > topForecastEvery
	if soon {
		m.soonAt = time.Now()
	}
	client, scope, o, conn, base := m.client, m.scope, m.o, m.conn, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(base, max(o.Interval*3, conn.Timeout))
		defer cancel()
		var data topData
		if client == nil {
			client = redisops.New(conn)
			h, err := readTopHeader(ctx, client, o)
			if err != nil {
				client.Close()
				data.err = err
				return data
			}
			data.client, data.header, scope = client, h, h.scope
		}
		run, err := client.NewList(ctx, scope.Scope, nil)
		if err != nil {
			data.err = err
			return data
		}
		run.SinceMs = since
		data.now = run.ServerTimeMs
		if data.groups, data.err = run.Groups(ctx, 0); data.err != nil {
			return data
		}
		if stuck {
			data.stuck = stuckFooter(ctx, client, scope)
		}
		if soon {
			data.nextHour = nextHour(ctx, client, scope)
		}
		return data
	}
}

// readTopHeader reads the scope, the server and the library's release.
func readTopHeader(ctx context.Context, client *redisops.Client, o topOptions) (*topHeader, error) {
	scope, err := resolveScope(ctx, client, o.Scope, output.Discard())
	if err != nil {
		return nil, err
	}
	h := &topHeader{scope: scope, server: client.Addr(), release: "unknown",
		partitions: scope.Count, lanes: len(scope.allLanes())}
	if vs, err := client.Versions(ctx); err == nil && len(vs) > 0 {
		h.product = vs[0].Product + " " + vs[0].Version
	}
	if v, err := client.LibraryVersion(ctx); err == nil && v != "" {
		h.release = v
		if r, ok := ffReleases[v]; ok {
			h.release = r + " (ff_version " + v + ")"
		}
	}
	return h, nil
}

// nextHour reads what falls due in each 5m of the next hour, per lane (nil
// when it could not be read: the column stays as it was).
func nextHour(ctx context.Context, client *redisops.Client, scope resolvedScope) map[string][]int64 {
	steps := make([]time.Duration, topForecastSteps)
	for i := range steps {
		steps[i] = time.Duration(i+1) * topForecastStep
	}
	fc, err := client.Forecast(ctx, scope.Scope, nil, gridAfter(steps))
	if err != nil {
		return nil
	}
	out := map[string][]int64{}
	for lane, counts := range fc.Lanes {
		out[lane] = counts[1 : len(counts)-1]
	}
	return out
}

// stuckFooter classifies up to topStuckBound due entries as promote would
// (a dry run: reads only).
func stuckFooter(ctx context.Context, client *redisops.Client, scope resolvedScope) string {
	st, err := promote.FindStuck(ctx, client, scope.Scope, nil, topStuckBound)
	if err != nil {
		return "stuck: not checked (" + err.Error() + ")"
	}
	among := fmt.Sprintf("%d due entries classified", st.Examined)
	if st.Bounded {
		among = fmt.Sprintf("the first %d of %d due entries (top's bound)", st.Examined, st.Due)
	}
	if st.Repairable+st.Failing == 0 {
		return "stuck: none among " + among
	}
	return fmt.Sprintf("stuck: %d repairable (ffdelay promote --repair), %d failing, among %s; see ffdelay promote --dry-run", st.Repairable, st.Failing, among)
}

// topSnapshot prints top's view once, for a pipe or a file: two readings
// an interval apart (the trend and verdicts need both), without the keys.
func topSnapshot(ctx context.Context, o topOptions, conn redisops.Options, d *deps) error {
	m := &topModel{ctx: ctx, o: o, conn: conn, sorts: []string{"overdue", "due", "lane"}}
	m.view.Sort = m.sorts[0]
	defer func() {
		if m.client != nil {
			m.client.Close()
		}
	}()
	for i := 0; i < 2; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(o.Interval):
			}
		}
		data := m.refresh()().(topData)
		if data.err != nil {
			return data.err
		}
		m.apply(data)
	}
	d.printer.TopSnapshot(m.view)
	return nil
}
