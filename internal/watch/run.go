package watch

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/flowfabric/ffdelay/internal/metrics"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
)

const (
	// maxReconnect caps the delay between cycles that could not reach the
	// server (doubling from the interval).
	maxReconnect = 10 * time.Second
	// liveSlack is added to every bound of the liveness check.
	liveSlack = 5 * time.Second
	// probeEvery and readyMaxAge: readiness is a probe of the server and
	// the library run this often, and counts only while it is this fresh.
	probeEvery  = time.Second
	readyMaxAge = 3 * time.Second
)

// Options are the loop's own settings.
type Options struct {
	// Interval is start to start; MaxCycles 0 runs until a signal.
	Interval  time.Duration
	MaxCycles int
	// Timeout is the per-request timeout: it bounds one batch, so it bounds
	// how long a live loop goes without progress.
	Timeout time.Duration
	// Listen is the standby endpoint's address ("" serves nothing).
	Listen       string
	PerPartition bool
}

// CycleResult is what one cycle found.
type CycleResult struct {
	// Scope is the partitions and lanes the cycle worked on.
	Scope model.Scope
	// Backlog is the groups as the cycle found them (with --listen).
	Backlog []model.Group
	// ServerTimeMs is the server's clock at the start of the cycle.
	ServerTimeMs int64
	// Complete: the cycle promoted and saw every due entry in scope (no
	// --limit stopped it), so an id it did not see has left its set.
	Complete bool
	// Stuck, when set, is a bounded dry run's count of stuck entries: a
	// replica that does not promote classifies this way, less often.
	Stuck *int
	// OutOfScope, when set, is the due work found in lanes outside the
	// scope by the latest complete walk of the keyspace.
	OutOfScope *model.OutOfScope
	// DueSoon, when set, is what falls due within each horizon, per lane.
	DueSoon []model.DueSoon
}

// CycleInput is what one cycle is given.
type CycleInput struct {
	// N counts cycles from 1.
	N int
	// Skip holds the ids sitting out their failure backoff.
	Skip map[string]bool
	// Each is called with every result.
	Each func(model.Result)
	// Promote is false on a replica that does not hold the lease: the
	// cycle reads (for the backlog gauges) and writes nothing.
	Promote bool
	// BeforeWrite is asked before each batch of writes (nil without a
	// lease); its error stops the cycle there.
	BeforeWrite func() error
}

// CycleFunc runs one cycle.
type CycleFunc func(ctx context.Context, in CycleInput) (CycleResult, error)

// Service is a watch loop with its backoff and endpoint.
type Service struct {
	Options
	Cycle CycleFunc
	// Probe checks the server and the library for readiness (a bounded
	// call of its own, not the loop's last result).
	Probe func(ctx context.Context) error
	// Permanent says whether an error ends the loop (retrying cannot fix it).
	Permanent func(error) bool
	Printer   *output.Printer
	// Lease, when set, makes this replica promote only while it holds the
	// lease (--lease).
	Lease *Lease

	// deadline is when the loop must have shown progress again (unix ns).
	deadline atomic.Int64
	// followSince is when this replica last began to follow another's
	// lease, and followLogged when it last said so.
	followSince, followLogged time.Time
	// outside is the out-of-scope lanes with due work last logged.
	outside string
}

// followRemind is how often a follower says again that it follows.
const followRemind = 5 * time.Minute

// ErrLastCycleFailed ends a loop whose last cycle failed (exit 1; the
// output already said why).
var ErrLastCycleFailed = errors.New("the last cycle failed")

// alive records progress: the loop must show some again within extra
// plus the live bound.
func (s *Service) alive(extra time.Duration) {
	bound := 2*s.Interval + s.Timeout + liveSlack
	s.deadline.Store(time.Now().Add(extra + bound).UnixNano())
}

// live is /healthz: the loop has started or ended a cycle, or handled a
// result, within its bound.
func (s *Service) live() (bool, string) {
	if time.Now().UnixNano() > s.deadline.Load() {
		return false, "the watch loop has made no progress within its bound (blocked on output or on the server?)"
	}
	return true, ""
}

// Run repeats the cycle every interval, start to start, until ctx is done
// or MaxCycles. A cycle that fails is reported and retried with a doubling
// delay; a permanent error ends the loop. Every goroutine it starts (the
// probe, the endpoint, the lease's renewals) has ended when it returns.
func (s *Service) Run(ctx context.Context) error {
	p := s.Printer
	s.alive(0)
	stats, stopServing, err := s.serve(ctx)
	if err != nil {
		return err
	}
	defer stopServing()
	if !p.Machine() {
		p.Note("watching for due executions every %s; a line for each cycle that promotes, cleans or fails something (idle cycles are silent); Ctrl-C stops after the batch in flight", s.Interval)
	}
	if s.Lease != nil {
		defer s.contend(stats)()
	}
	bo := newBackoff(s.Interval)
	started := time.Now()
	var sum output.WatchSummary
	retryDelay := s.Interval
	for n := 1; s.MaxCycles == 0 || n <= s.MaxCycles; n++ {
		if ctx.Err() != nil {
			break
		}
		cycleStart := time.Now()
		c, err := s.cycle(ctx, n, bo, stats)
		canceled := errors.Is(err, context.Canceled) && ctx.Err() != nil
		sum.Cycles++
		sum.Totals.Merge(c.Totals)
		sum.LastFailed = c.Totals.Failed > 0
		wait := s.Interval - time.Since(cycleStart)
		if err != nil && !canceled {
			if s.Permanent(err) {
				p.WatchCycle(c)
				sum.DurationMs = time.Since(started).Milliseconds()
				p.WatchEnd(sum)
				return err
			}
			p.Warn("cycle %d: %v; retrying in %s", n, err, retryDelay)
			sum.LastFailed = true
			wait = retryDelay
			retryDelay = min(retryDelay*2, maxReconnect)
		} else {
			retryDelay = s.Interval
		}
		p.WatchCycle(c)
		if s.MaxCycles > 0 && n >= s.MaxCycles {
			break
		}
		s.alive(max(wait, 0))
		select {
		case <-ctx.Done():
		case <-time.After(max(wait, 0)):
		}
	}
	sum.DurationMs = time.Since(started).Milliseconds()
	p.WatchEnd(sum)
	if sum.LastFailed {
		return ErrLastCycleFailed
	}
	return nil
}

// serve starts the endpoint and the readiness probe (with --listen) and
// returns the metrics they serve (nil without --listen) and the function
// that stops both and waits for them.
func (s *Service) serve(ctx context.Context) (*metrics.StandbyMetrics, func(), error) {
	if s.Listen == "" {
		return nil, func() {}, nil
	}
	var ready state
	ready.set(false, "no probe has run yet")
	lease := ""
	if s.Lease != nil {
		lease = s.Lease.Key
	}
	stats := metrics.NewStandbyMetrics(s.PerPartition, lease)
	readyNow := func() (bool, string) {
		ok, reason, at := ready.get()
		if time.Since(at) > readyMaxAge {
			return false, "the readiness probe has not answered for " + output.HumanDuration(time.Since(at))
		}
		return ok, reason
	}
	ep, err := startEndpoint(s.Listen, stats, s.live, readyNow)
	if err != nil {
		return nil, nil, err
	}
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		s.probeLoop(probeCtx, &ready, stats)
	}()
	s.Printer.Note("serving /metrics, /healthz and /readyz on http://%s", ep.Addr())
	return stats, func() {
		// Joined before Run returns: the caller may then close what the
		// probe uses.
		stopProbe()
		<-probeDone
		if err := ep.close(); err != nil {
			s.Printer.Warn("the endpoint on %s stopped serving: %v", s.Listen, err)
		}
	}, nil
}

// contend starts renewing the lease every TTL/3 (taking it happens at the
// start of each cycle) and returns the function that stops the renewals,
// waits for them, and then releases the lease.
func (s *Service) contend(stats *metrics.StandbyMetrics) func() {
	if stats != nil {
		stats.Leadership(s.Lease.Held)
		s.Lease.OnChange = func(bool, string) { stats.LeaseTransition() }
	}
	leaseCtx, stopLease := context.WithCancel(context.Background())
	keepDone := make(chan struct{})
	renew := time.NewTicker(s.Lease.TTL / 3)
	go func() {
		defer close(keepDone)
		s.Lease.keep(leaseCtx, renew.C)
	}()
	s.Printer.Note("contending for the lease %s (ttl %s): only its holder promotes", s.Lease.Key, s.Lease.TTL)
	return func() {
		// The renewals end before the release, so none can extend the
		// lease after it was given up.
		stopLease()
		renew.Stop()
		<-keepDone
		err := s.Lease.release(s.Timeout)
		s.logLease()
		if err != nil {
			s.Printer.Warn("%v (it lapses on its own within %s)", err, s.Lease.TTL)
		}
	}
}

// cycle runs cycle n: it takes the lease if it can (a replica without it
// reads only), runs the cycle under a context that losing the lease
// cancels, and counts what it did in the backoff and the metrics. A lost
// lease is not an error of the cycle.
func (s *Service) cycle(ctx context.Context, n int, bo *backoff, stats *metrics.StandbyMetrics) (output.Cycle, error) {
	p := s.Printer
	cycleStart := time.Now()
	s.alive(0)
	c := output.Cycle{Cycle: n, StartedMs: cycleStart.UnixMilli()}
	outcomes := map[model.Outcome]int64{}
	in := CycleInput{N: n, Skip: bo.skipSet(n), Promote: true}
	cycleCtx, endCycle := ctx, func() {}
	if s.Lease != nil {
		if !s.Lease.Held() {
			lctx, cancel := context.WithTimeout(ctx, s.Timeout)
			if err := s.Lease.take(lctx); err != nil && ctx.Err() == nil {
				p.Warn("cycle %d: cannot reach the lease %s: %v", n, s.Lease.Key, err)
			}
			cancel()
		}
		in.Promote, in.BeforeWrite = s.Lease.Held(), s.Lease.Check
		if in.Promote {
			// Losing the lease stops the cycle's writes at once.
			cycleCtx, endCycle = s.Lease.WriteContext(ctx)
		}
		s.logLease()
	}
	in.Each = func(r model.Result) {
		s.alive(0)
		c.Totals.AddResult(r)
		outcomes[r.Outcome]++
		if bo.record(r, n) {
			c.Failures = append(c.Failures, output.NewFailure(r))
		}
	}
	res, err := s.Cycle(cycleCtx, in)
	if ctx.Err() == nil && errors.Is(context.Cause(cycleCtx), ErrLeaseLost) {
		err = ErrLeaseLost
	}
	endCycle()
	if errors.Is(err, ErrLeaseLost) {
		// Not a failure of the cycle: another replica promotes now.
		err = nil
	}
	if s.Lease != nil {
		s.logLease()
		s.logFollowing()
	}
	if res.ServerTimeMs > 0 {
		c.StartedMs = res.ServerTimeMs
	}
	c.DurationMs = time.Since(cycleStart).Milliseconds()
	canceled := errors.Is(err, context.Canceled) && ctx.Err() != nil
	if err != nil && !canceled {
		c.Error = err.Error()
	}
	if err == nil && in.Promote {
		stuck, sittingOut, events := bo.endCycle(n, res.Complete)
		s.logStuck(events)
		if stats != nil {
			stats.Stuck(stuck, sittingOut)
		}
	} else if err == nil && res.Stuck != nil && stats != nil {
		stats.Stuck(*res.Stuck, 0)
	}
	if err == nil && res.OutOfScope != nil {
		s.logOutside(*res.OutOfScope)
		if stats != nil {
			stats.OutOfScope(*res.OutOfScope)
		}
	}
	if stats != nil && !canceled {
		if err == nil && res.Scope.Count > 0 {
			stats.Backlog(res.Scope, res.Backlog)
		}
		if err == nil && res.DueSoon != nil {
			stats.DueSoon(res.DueSoon)
		}
		stats.Cycle(outcomes, time.Since(cycleStart), err == nil)
	}
	// A cycle is news when it promoted, cleaned or repaired something,
	// failed, or met a failure not reported before; an execution that
	// keeps failing is not news every time it is tried again.
	idle := c.Error == "" && c.Totals.Promoted == 0 && c.Totals.Cleaned == 0 && c.Totals.Repaired == 0 && len(c.Failures) == 0
	p.LogCycle(idle, "cycle", "cycle", c.Cycle, "promoted", c.Totals.Promoted, "cleaned", c.Totals.Cleaned,
		"failed", c.Totals.Failed, "repaired", c.Totals.Repaired, "duration_ms", c.DurationMs, "error", c.Error)
	return c, err
}

// probeLoop keeps readiness current: every probeEvery, a probe bounded by
// the request timeout (at most probeEvery*2) reaches the server and the
// library, and ffdelay_server_up follows it.
func (s *Service) probeLoop(ctx context.Context, ready *state, stats *metrics.StandbyMetrics) {
	bound := min(s.Timeout, 2*probeEvery)
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, bound)
		err := s.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			ready.set(false, err.Error())
		} else {
			ready.set(true, "")
		}
		stats.ServerUp(err == nil)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
