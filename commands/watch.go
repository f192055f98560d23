package commands

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/internal/watch"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
)

// libraryGrace is how long a watch loop without --listen that has
// promoted before waits for a missing flowfabric library to come back (a
// restarted server's ff-server loads it at boot) before it exits 3.
const libraryGrace = 30 * time.Second

// rediscoverEvery bounds how often --discover-lanes walks the keyspace in a
// watch loop.
const rediscoverEvery = time.Minute

// runWatch hands internal/watch the cycle of `promote --watch`: resolve the
// scope, check the library once per connection, read the backlog for the
// standby's gauges, and run the engine. A node that turns out to be part
// of a cluster is worked in cluster mode from then on.
func runWatch(ctx context.Context, o promoteOptions, conn redisops.Options, p *output.Printer) error {
	// Batch sizing learns the server's cost per call once, not every cycle.
	o.Run.Sizes = promote.NewLearnedSizes()
	w := &watchWiring{o: o, conn: conn, p: p, leaseConn: watch.NewLeaseConn(conn)}
	defer w.close()
	pr := &prober{conn: conn, clusterMode: &w.clusterMode}
	defer pr.close()
	var lease *watch.Lease
	if o.Lease {
		lease = &watch.Lease{Key: o.LeaseKey, Token: watch.LeaseToken(), TTL: o.LeaseTTL, Timeout: conn.Timeout,
			Store: w.leaseConn.Store, Clock: watch.SystemClock()}
	}
	svc := &watch.Service{
		Options: watch.Options{Interval: o.Interval, MaxCycles: o.MaxCycles, Timeout: conn.Timeout,
			Listen: o.Listen, PerPartition: o.PerPartition},
		Cycle: w.cycle, Probe: pr.probe, Permanent: w.permanent, Printer: p, Lease: lease,
	}
	err := svc.Run(ctx)
	var le *watch.ErrListen
	switch {
	case errors.As(err, &le):
		return usageError("--listen %s: %v (is the port taken?)", le.Addr, le.Err)
	case errors.Is(err, watch.ErrLastCycleFailed):
		return errSilentFailure
	}
	return err
}

// watchWiring is what the loop's cycles share: the loop's client (made
// again after a failed cycle), the lease's connection, what discovery
// found, and how long the library has been missing.
type watchWiring struct {
	o         promoteOptions
	conn      redisops.Options
	p         *output.Printer
	client    *redisops.Client
	leaseConn *watch.LeaseConn
	// clusterMode is set once a node said it is part of a cluster; the
	// probe reads it from its own goroutine.
	clusterMode         atomic.Bool
	libraryChecked      bool
	discoveredAt        time.Time
	libraryMissingSince time.Time
	everOK              bool
	// walk looks for delayed sets outside the scope, a few SCAN steps a
	// cycle; noWalk says why it cannot (a user without SCAN).
	walk   redisops.DelayedSetWalk
	noWalk bool
	// stuckAt is when a replica that does not promote last classified the
	// due entries for ffdelay_stuck_executions; soonAt when the standby
	// last counted what falls due soon.
	stuckAt, soonAt time.Time
}

// Bounds on what a watch loop does beside promoting: walkSteps SCAN steps
// (COUNT 1000) per primary and cycle for the walk that finds lanes outside
// the scope; a replica that does not promote classifies at most
// followerStuckBound due entries every followerStuckEvery, for its
// ffdelay_stuck_executions (the leader counts what its own cycles meet).
const (
	walkSteps          = 4
	followerStuckEvery = 15 * time.Second
	followerStuckBound = 10_000
)

// dueSoonEvery is how often a standby counts what falls due soon
// (ffdelay_due_soon): Prometheus's default scrape interval, a quarter of
// the shortest horizon (1m), and four ZCOUNTs per delayed set that is not
// empty each time.
const dueSoonEvery = 15 * time.Second

// dueSoonWithin are the horizons of ffdelay_due_soon.
var dueSoonWithin = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// lookAround does what a cycle does beside promoting: a few steps of the
// walk for delayed sets outside the scope, the due count of those the
// last complete walk found, and, on a replica that does not promote, a
// bounded dry run for the stuck count now and then.
func (w *watchWiring) lookAround(ctx context.Context, in watch.CycleInput, res *watch.CycleResult, rs resolvedScope) error {
	if !w.noWalk && rs.Count > 0 {
		_, err := w.client.StepWalk(ctx, &w.walk, walkSteps)
		if redisops.KindOf(err) == redisops.KindNoPerm {
			w.noWalk = true
			w.p.Warn("cannot look for delayed sets of lanes outside the scope: %v", err)
		} else if err != nil {
			return err
		}
		if w.walk.Walks > 0 {
			o, err := outOfScope(ctx, w.client, rs, setsOutside(rs, w.walk.Sets()), true)
			if err != nil {
				return err
			}
			res.OutOfScope = &o
		}
	}
	if w.o.Listen != "" && time.Since(w.soonAt) >= dueSoonEvery {
		fc, err := w.client.Forecast(ctx, rs.Scope, rs.Registry.Snapshot, gridAfter(dueSoonWithin))
		if err != nil {
			return err
		}
		res.DueSoon, w.soonAt = dueSoon(fc, rs.Scope.Lanes), time.Now()
	}
	if !in.Promote && time.Since(w.stuckAt) >= followerStuckEvery {
		st, err := promote.FindStuck(ctx, w.client, rs.Scope, rs.Registry.Snapshot, followerStuckBound)
		if err != nil {
			return err
		}
		n := int(st.Repairable + st.Failing)
		res.Stuck, w.stuckAt = &n, time.Now()
	}
	return nil
}

// dueSoon turns a forecast over dueSoonWithin into what falls due within
// each horizon (not what is due already), per lane; every lane in scope
// has its figures, 0 when empty.
func dueSoon(fc model.Forecast, lanes []string) []model.DueSoon {
	byLane := map[string][]int64{}
	for _, l := range lanes {
		byLane[l] = make([]int64, len(dueSoonWithin)+2)
	}
	for l, counts := range fc.Lanes {
		byLane[l] = counts
	}
	var out []model.DueSoon
	for l, counts := range byLane {
		var sum int64
		for i, d := range dueSoonWithin {
			sum += counts[i+1]
			out = append(out, model.DueSoon{Lane: l, Within: d, Count: sum})
		}
	}
	return out
}

func (w *watchWiring) close() {
	if w.client != nil {
		w.client.Close()
	}
	w.leaseConn.Close()
}

// cycle is one cycle of the loop; a node that turns out to be part of a
// cluster switches the loop to cluster mode and runs the cycle again.
func (w *watchWiring) cycle(ctx context.Context, in watch.CycleInput) (watch.CycleResult, error) {
	warn := w.p
	if in.N > 1 {
		warn = output.Discard()
	}
	if time.Since(w.discoveredAt) > rediscoverEvery {
		w.o.Scope.Discovered = nil
	}
	res, rs, err := watchCycle(ctx, w.o, w.conn, &w.client, &w.libraryChecked, in, warn)
	if redisops.KindOf(err) == redisops.KindClusterNode && !w.conn.Cluster {
		// Nothing was done yet: say so once and run the cycle again in
		// cluster mode.
		w.client.Close()
		w.client, w.conn = clusterFromNode(ctx, w.conn, w.p)
		w.clusterMode.Store(true)
		w.leaseConn.Use(w.conn)
		w.walk = redisops.DelayedSetWalk{}
		res, rs, err = watchCycle(ctx, w.o, w.conn, &w.client, &w.libraryChecked, in, warn)
	}
	if err == nil {
		err = w.lookAround(ctx, in, &res, rs)
	}
	discovered := rs.Discovered
	if err != nil {
		w.libraryChecked = false
		err = explain(ctx, w.conn, err)
		if w.client != nil && !errors.Is(err, watch.ErrLeaseLost) {
			// A fresh client next cycle: after a failover it reads the
			// cluster's new layout (the client retries nothing itself, so
			// that no pipeline of FCALLs is ever sent twice).
			w.client.Close()
			w.client = nil
		}
	}
	if err == nil {
		w.libraryMissingSince, w.everOK = time.Time{}, true
	}
	if w.o.Scope.Discover && w.o.Scope.Discovered == nil && discovered != nil && err == nil {
		w.o.Scope.Discovered, w.discoveredAt = discovered, time.Now()
	}
	return res, err
}

// permanent is the loop's stop rule: redisops.Kind's, except that a
// library that is gone right after a server restart (no persistence) comes
// back when ff-server loads it at boot. The loop waits for it libraryGrace
// before it gives up with exit 3, and a standby (--listen) waits as long
// as it takes, not ready meanwhile.
func (w *watchWiring) permanent(err error) bool {
	switch redisops.KindOf(err) {
	case redisops.KindNoLibrary, redisops.KindNoFunctions:
		if w.libraryMissingSince.IsZero() {
			w.libraryMissingSince = time.Now()
		}
		// At start-up a missing library is a wrong --url: exit 3 at once.
		return w.o.Listen == "" && (!w.everOK || time.Since(w.libraryMissingSince) > libraryGrace)
	}
	return permanent(err)
}

// prober is the readiness probe's own client: a cycle that holds the
// loop's (or a lost one) never makes readiness look older or newer than
// the server is. It runs beside the loop and reads no variable the loop
// writes, only its own copy of the options and whether the loop went to
// cluster mode.
type prober struct {
	conn        redisops.Options
	clusterMode *atomic.Bool
	client      *redisops.Client
}

func (pr *prober) probe(ctx context.Context) error {
	pc := pr.conn
	pc.Cluster = pr.conn.Cluster || pr.clusterMode.Load()
	if pr.client != nil && pr.client.IsCluster() != pc.Cluster {
		pr.client.Close()
		pr.client = nil
	}
	if pr.client == nil {
		pr.client = redisops.New(pc)
	}
	err := pr.client.RequireLibrary(ctx, nil)
	if err != nil {
		if redisops.KindOf(err) == redisops.KindClusterNode {
			// The node says cluster: the probe follows, as the loop does.
			pr.clusterMode.Store(true)
		}
		return explain(ctx, pc, err)
	}
	return nil
}

// close runs after the service has joined the probe's goroutine.
func (pr *prober) close() {
	if pr.client != nil {
		pr.client.Close()
	}
}

// permanent errors end a watch loop: retrying cannot fix them.
func permanent(err error) bool {
	var ee *exitError
	if errors.As(err, &ee) {
		return true
	}
	return redisops.KindOf(err).Permanent()
}

// watchCycle is one cycle on *client (made when nil). It returns the
// scope it resolved (with what --discover-lanes found, for the next cycles
// to reuse).
func watchCycle(ctx context.Context, o promoteOptions, conn redisops.Options, client **redisops.Client,
	libraryChecked *bool, in watch.CycleInput, warn *output.Printer) (watch.CycleResult, resolvedScope, error) {
	var res watch.CycleResult
	if *client == nil {
		*client = redisops.New(conn)
	}
	cl := *client
	scope, err := resolveScope(ctx, cl, o.Scope, warn)
	if err != nil {
		return res, scope, err
	}
	if !o.Run.DryRun && !*libraryChecked {
		if err := cl.RequireLibrary(ctx, scope.Registry.Snapshot); err != nil {
			return res, scope, err
		}
		*libraryChecked = true
	}
	if o.Listen != "" {
		// The standby's backlog gauges, as the cycle finds them.
		list, err := cl.NewList(ctx, scope.Scope, scope.Registry.Snapshot)
		if err != nil {
			return res, scope, err
		}
		if res.Backlog, err = list.Groups(ctx, 0); err != nil {
			return res, scope, err
		}
	}
	res.Scope = scope.Scope
	if !in.Promote {
		// A replica without the lease reads and writes nothing more.
		return res, scope, nil
	}
	ro := o.runOptions(scope.Scope)
	ro.Skip = in.Skip
	ro.Snapshot = scope.Registry.Snapshot
	ro.BeforeWrite = in.BeforeWrite
	run, err := promote.Plan(ctx, cl, ro)
	if err != nil {
		return res, scope, err
	}
	res.ServerTimeMs = run.ServerTimeMs
	err = run.Execute(ctx, in.Each)
	res.Complete = err == nil && !run.LimitReached()
	return res, scope, err
}
