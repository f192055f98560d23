package commands

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

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
	var client *redisops.Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	libraryChecked := false
	var discoveredAt time.Time
	ls := &leaseStore{conn: conn}
	defer ls.close()
	var clusterMode atomic.Bool
	var libraryMissingSince time.Time
	everOK := false
	// Batch sizing learns the server's cost per call once, not every cycle.
	o.Run.Sizes = promote.NewLearnedSizes()
	cycle := func(ctx context.Context, in watch.CycleInput) (watch.CycleResult, error) {
		warn := p
		if in.N > 1 {
			warn = output.Discard()
		}
		if time.Since(discoveredAt) > rediscoverEvery {
			o.Scope.Discovered = nil
		}
		res, discovered, err := watchCycle(ctx, o, conn, &client, &libraryChecked, in, warn)
		if redisops.KindOf(err) == redisops.KindClusterNode && !conn.Cluster {
			// Nothing was done yet: say so once and run the cycle again in
			// cluster mode.
			client.Close()
			client, conn = clusterFromNode(ctx, conn, p)
			clusterMode.Store(true)
			ls.use(conn)
			res, discovered, err = watchCycle(ctx, o, conn, &client, &libraryChecked, in, warn)
		}
		if err != nil {
			libraryChecked = false
			err = explain(ctx, conn, err)
			if client != nil && !errors.Is(err, watch.ErrLeaseLost) {
				// A fresh client next cycle: after a failover it reads the
				// cluster's new layout (the client retries nothing itself,
				// so that no pipeline of FCALLs is ever sent twice).
				client.Close()
				client = nil
			}
		}
		if err == nil {
			libraryMissingSince, everOK = time.Time{}, true
		}
		if o.Scope.Discover && o.Scope.Discovered == nil && discovered != nil {
			o.Scope.Discovered, discoveredAt = discovered, time.Now()
		}
		return res, err
	}
	// The probe runs beside the loop: it reads no variable the loop
	// writes, only a copy of the options and whether the loop went to
	// cluster mode.
	probeConn := conn
	var prober *redisops.Client
	defer func() {
		if prober != nil {
			prober.Close()
		}
	}()
	probe := func(ctx context.Context) error {
		// The probe has its own connection, so a cycle that holds the
		// loop's (or a lost one) never makes readiness look older or newer
		// than the server is.
		cluster := probeConn.Cluster || clusterMode.Load()
		if prober != nil && prober.IsCluster() != cluster {
			prober.Close()
			prober = nil
		}
		if prober == nil {
			pc := probeConn
			pc.Cluster = cluster
			prober = redisops.New(pc)
		}
		err := prober.RequireLibrary(ctx, nil)
		if err != nil {
			if redisops.KindOf(err) == redisops.KindClusterNode {
				// The node says cluster: the probe follows, as the loop does.
				clusterMode.Store(true)
			}
			pc := probeConn
			pc.Cluster = cluster
			return explain(ctx, pc, err)
		}
		return nil
	}
	var lease *watch.Lease
	if o.Lease {
		lease = &watch.Lease{Key: o.LeaseKey, Token: leaseToken(), TTL: o.LeaseTTL, Timeout: conn.Timeout,
			Store: ls.store, Clock: watch.SystemClock()}
	}
	svc := &watch.Service{
		Options: watch.Options{Interval: o.Interval, MaxCycles: o.MaxCycles, Timeout: conn.Timeout,
			Listen: o.Listen, PerPartition: o.PerPartition},
		Cycle: cycle, Probe: probe, Permanent: permanent, Printer: p, Lease: lease,
	}
	// A library that is gone right after a server restart (no persistence)
	// comes back when ff-server loads it at boot: the loop waits for it
	// libraryGrace before it gives up with exit 3, and a standby (--listen)
	// waits as long as it takes, not ready meanwhile.
	svc.Permanent = func(err error) bool {
		switch redisops.KindOf(err) {
		case redisops.KindNoLibrary, redisops.KindNoFunctions:
			if libraryMissingSince.IsZero() {
				libraryMissingSince = time.Now()
			}
			// At start-up a missing library is a wrong --url: exit 3 at once.
			return o.Listen == "" && (!everOK || time.Since(libraryMissingSince) > libraryGrace)
		}
		return permanent(err)
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

// permanent errors end a watch loop: retrying cannot fix them.
func permanent(err error) bool {
	var ee *exitError
	if errors.As(err, &ee) {
		return true
	}
	return redisops.KindOf(err).Permanent()
}

// watchCycle is one cycle on *client (made when nil). It returns the lanes
// --discover-lanes found, for the next cycles to reuse.
func watchCycle(ctx context.Context, o promoteOptions, conn redisops.Options, client **redisops.Client,
	libraryChecked *bool, in watch.CycleInput, warn *output.Printer) (watch.CycleResult, []redisops.DiscoveredSet, error) {
	var res watch.CycleResult
	if *client == nil {
		*client = redisops.New(conn)
	}
	cl := *client
	scope, err := resolveScope(ctx, cl, o.Scope, warn)
	if err != nil {
		return res, nil, err
	}
	if !o.Run.DryRun && !*libraryChecked {
		if err := cl.RequireLibrary(ctx, scope.Registry.Snapshot); err != nil {
			return res, scope.Discovered, err
		}
		*libraryChecked = true
	}
	if o.Listen != "" {
		// The standby's backlog gauges, as the cycle finds them.
		list, err := cl.NewList(ctx, scope.Scope, scope.Registry.Snapshot)
		if err != nil {
			return res, scope.Discovered, err
		}
		if res.Backlog, err = list.Groups(ctx, 0); err != nil {
			return res, scope.Discovered, err
		}
	}
	res.Scope = scope.Scope
	if !in.Promote {
		// A replica without the lease reads and writes nothing more.
		return res, scope.Discovered, nil
	}
	ro := o.runOptions(scope.Scope)
	ro.Skip = in.Skip
	ro.Snapshot = scope.Registry.Snapshot
	ro.BeforeWrite = in.BeforeWrite
	run, err := promote.Plan(ctx, cl, ro)
	if err != nil {
		return res, scope.Discovered, err
	}
	res.ServerTimeMs = run.ServerTimeMs
	err = run.Execute(ctx, in.Each)
	return res, scope.Discovered, err
}

// leaseStore is the lease's own connection, made again when the loop
// switches to cluster mode.
type leaseStore struct {
	mu     sync.Mutex
	conn   redisops.Options
	client *redisops.Client
}

// use switches to conn (cluster mode found by the loop).
func (l *leaseStore) use(conn redisops.Options) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn = conn
}

func (l *leaseStore) store() watch.LeaseStore {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil && l.client.IsCluster() != l.conn.Cluster {
		l.client.Close()
		l.client = nil
	}
	if l.client == nil {
		l.client = redisops.New(l.conn)
	}
	return l.client
}

func (l *leaseStore) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil {
		l.client.Close()
	}
}

// leaseToken names this replica in the lease key: host, process and a
// random part, so two replicas never share one.
func leaseToken() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%s:%d:%x", host, os.Getpid(), b)
}
