package commands

import (
	"context"
	"errors"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
)

// Failure backoff, as the engine does it: an id that fails this many cycles
// in a row is skipped for the next backoffCycles cycles.
const (
	strikes       = 3
	backoffCycles = 10
	maxReconnect  = 10 * time.Second
	// rediscoverEvery bounds how often --discover-lanes walks the keyspace
	// in a watch loop.
	rediscoverEvery = time.Minute
)

// backoff tracks failing ids across watch cycles.
type backoff struct {
	fails     map[string]int
	skipUntil map[string]int
	reported  map[string]bool
}

func newBackoff() *backoff {
	return &backoff{fails: map[string]int{}, skipUntil: map[string]int{}, reported: map[string]bool{}}
}

// stuck counts the ids failing cycle after cycle (reported once, still
// failing).
func (b *backoff) stuck() int { return len(b.reported) }

// skipSet is the ids that sit out this cycle. It is a copy made before
// the cycle starts: the promotion workers read it concurrently while the
// results of the same cycle update the backoff's own maps.
func (b *backoff) skipSet(cycle int) map[string]bool {
	out := make(map[string]bool)
	for id, until := range b.skipUntil {
		if until >= cycle {
			out[id] = true
		}
	}
	return out
}

// record notes an outcome and says whether a failure is new (to report).
func (b *backoff) record(r model.Result, cycle int) (report bool) {
	id := r.ExecutionID
	switch r.Outcome {
	case model.Failed, model.NeedsRepair:
		b.fails[id]++
		if b.fails[id] >= strikes {
			b.skipUntil[id] = cycle + backoffCycles
			b.fails[id] = 0
		}
		if !b.reported[id] {
			b.reported[id] = true
			return true
		}
	case model.SkippedBackoff:
	default:
		delete(b.fails, id)
		delete(b.skipUntil, id)
		delete(b.reported, id)
	}
	return false
}

// runWatch repeats the promote pass every interval, start to start, until
// a signal or --max-cycles. A lost server is reported and retried with
// backoff; refused authentication and a missing library end the loop with
// exit 3.
func runWatch(ctx context.Context, o promoteOptions, conn redisops.Options, p *output.Printer) error {
	started := time.Now()
	bo := newBackoff()
	var client *redisops.Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	var sum output.WatchSummary
	retryDelay := o.Interval
	libraryChecked := false
	var discoveredAt time.Time
	var sb *standby
	if o.Listen != "" {
		var err error
		if sb, err = startStandby(o.Listen, o.PerPartition); err != nil {
			return err
		}
		defer sb.close()
		p.Note("serving /metrics, /healthz and /readyz on http://%s", sb.Addr())
	}
	if !p.Machine() {
		p.Note("watching for due executions every %s; a line for each cycle that promotes, cleans or fails something (idle cycles are silent); Ctrl-C stops after the batch in flight", o.Interval)
	}
	for cycle := 1; o.MaxCycles == 0 || cycle <= o.MaxCycles; cycle++ {
		if ctx.Err() != nil {
			break
		}
		cycleStart := time.Now()
		warn := p
		if cycle > 1 {
			warn = output.Discard()
		}
		if time.Since(discoveredAt) > rediscoverEvery {
			o.Scope.Discovered = nil
		}
		c, scope, err := watchCycle(ctx, o, conn, &client, &libraryChecked, bo, cycle, warn)
		if redisops.KindOf(err) == redisops.KindClusterNode && !conn.Cluster {
			// Nothing was done yet: say so once and run the cycle again
			// in cluster mode.
			p.Note("%s is a cluster node: working in cluster mode (add --cluster to say so)", client.Addr())
			client.Close()
			client, conn.Cluster = nil, true
			c, scope, err = watchCycle(ctx, o, conn, &client, &libraryChecked, bo, cycle, warn)
		}
		err = explain(ctx, conn, err)
		if sb != nil && !errors.Is(err, context.Canceled) {
			if err == nil && scope.Count > 0 {
				sb.metrics.Backlog(scope.Scope, c.Backlog)
			}
			sb.cycle(c, err, bo.stuck())
		}
		p.Log("cycle", "cycle", c.Cycle, "promoted", c.Totals.Promoted, "cleaned", c.Totals.Cleaned,
			"failed", c.Totals.Failed, "duration_ms", c.DurationMs, "server", conn.Addrs, "error", c.Error)
		if o.Scope.Discover && o.Scope.Discovered == nil && scope.Discovered != nil {
			o.Scope.Discovered, discoveredAt = scope.Discovered, time.Now()
		}
		sum.Cycles++
		sum.Totals.Merge(c.Totals)
		sum.LastFailed = c.Totals.Failed > 0
		wait := o.Interval - time.Since(cycleStart)
		if err != nil {
			if permanent(err) {
				p.WatchCycle(c)
				sum.DurationMs = time.Since(started).Milliseconds()
				p.WatchEnd(sum)
				return err
			}
			if !errors.Is(err, context.Canceled) {
				p.Warn("cycle %d: %v; retrying in %s", cycle, err, retryDelay)
				c.Error = err.Error()
				sum.LastFailed = true
				wait = retryDelay
				retryDelay = min(retryDelay*2, maxReconnect)
				libraryChecked = false
			}
		} else {
			retryDelay = o.Interval
		}
		p.WatchCycle(c)
		if o.MaxCycles > 0 && cycle >= o.MaxCycles {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(max(wait, 0)):
		}
	}
	sum.DurationMs = time.Since(started).Milliseconds()
	p.WatchEnd(sum)
	if sum.LastFailed {
		return errSilentFailure
	}
	return nil
}

// permanent errors end a watch loop: retrying cannot fix them.
func permanent(err error) bool {
	var ee *exitError
	if errors.As(err, &ee) {
		return true
	}
	switch redisops.KindOf(err) {
	case redisops.KindAuth, redisops.KindNoPerm, redisops.KindNoLibrary, redisops.KindNoFunctions, redisops.KindNotRedis, redisops.KindTLSMismatch, redisops.KindConnSetup:
		return true
	}
	return false
}

func watchCycle(ctx context.Context, o promoteOptions, conn redisops.Options, client **redisops.Client,
	libraryChecked *bool, bo *backoff, cycle int, warn *output.Printer) (output.Cycle, resolvedScope, error) {
	c := output.Cycle{Cycle: cycle, StartedMs: time.Now().UnixMilli()}
	start := time.Now()
	// Every return, a failed one included, reports the cycle's real
	// duration (a deferred write to c would be lost: c is returned by value).
	done := func(scope resolvedScope, err error) (output.Cycle, resolvedScope, error) {
		c.DurationMs = time.Since(start).Milliseconds()
		return c, scope, err
	}
	var scope resolvedScope
	if *client == nil {
		*client = redisops.New(conn)
	}
	cl := *client
	scope, err := resolveScope(ctx, cl, o.Scope, warn)
	if err != nil {
		return done(scope, err)
	}
	if !o.Run.DryRun && !*libraryChecked {
		if err := cl.RequireLibrary(ctx, scope.Registry.Snapshot); err != nil {
			return done(scope, err)
		}
		*libraryChecked = true
	}
	if o.Listen != "" {
		// The standby's backlog gauges, as the cycle finds them.
		list, err := cl.NewList(ctx, scope.Scope, scope.Registry.Snapshot)
		if err != nil {
			return done(scope, err)
		}
		if c.Backlog, err = list.Groups(ctx, 0); err != nil {
			return done(scope, err)
		}
	}
	ro := o.runOptions(scope.Scope)
	skip := bo.skipSet(cycle)
	ro.Skip = skip
	ro.Snapshot = scope.Registry.Snapshot
	run, err := promote.Plan(ctx, cl, ro)
	if err != nil {
		return done(scope, err)
	}
	c.StartedMs = run.ServerTimeMs
	err = run.Execute(ctx, func(r model.Result) {
		c.Totals.Add(r.Outcome)
		switch r.Outcome {
		case model.NotFoundCleaned, model.NotRunnableCleaned, model.NotDelayedCleaned:
			if c.Cleaned == nil {
				c.Cleaned = map[string]int64{}
			}
			c.Cleaned[string(r.Outcome)]++
		}
		if bo.record(r, cycle) {
			c.Failures = append(c.Failures, output.NewFailure(r))
		}
	})
	return done(scope, err)
}
