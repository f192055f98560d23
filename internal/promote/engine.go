// Package promote is ffdelay's promotion engine: it plans a run (which
// primary owns what, each primary's clock, what is due), schedules the work
// per primary, sizes FCALL batches for --max-stall, keeps the --limit budget
// and the --rate, applies the filters and the repair decisions, and emits
// one result per execution. Every Redis command goes through redisops.
package promote

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Options says what a promote run does.
type Options struct {
	Scope  model.Scope
	DryRun bool
	// Repair fixes the two shapes ff_promote_delayed strands or fails on,
	// atomically, instead of reporting them as needs_repair.
	Repair bool
	// Namespace and Tags select executions; a missing or unreadable field
	// means skip (fail closed), as the engine's filter does.
	Namespace string
	Tags      []model.TagFilter
	// Executions, when set, are the only ids considered.
	Executions []model.ExecutionID
	// Limit stops the run after that many promotions (would_promote in a
	// dry run); 0 means no limit.
	Limit int64
	// Rate caps FCALLs per second; 0 means unlimited.
	Rate float64
	// BatchSize, when set, fixes the number of FCALLs in one pipeline;
	// otherwise batches follow MaxStall.
	BatchSize int
	// MaxStall is the most server time one pipeline of FCALLs may take
	// (0: defaultMaxStall); batch sizes follow the measured cost per call.
	MaxStall time.Duration
	// Pipelines is the number of pipelines in flight per primary; 0 picks
	// DefaultPipelines on a single server and 1 per primary in a cluster.
	Pipelines int
	// Snapshot, when fresh, stands in for reading the clock (standalone).
	Snapshot *redisops.Snapshot
	// Sizes, when set, carries what batch sizing learned from one run to
	// the next (watch mode), so each cycle does not start again from a
	// batch of one.
	Sizes *LearnedSizes
	// BeforeWrite, when set, is asked before each FCALL batch and each
	// repair; an error stops the run there (a standby that lost its lease).
	BeforeWrite func() error
	// Skip are ids that sit out this run (watch mode's failure backoff).
	// The run only reads it.
	Skip map[string]bool
	// MaxExamined, in a dry run, stops the run once that many entries have
	// a result (whatever their outcome); Run.StoppedEarly then says so.
	// 0 means no bound. A run that writes is never cut short this way:
	// the result of a call in flight must reach its caller.
	MaxExamined int64
}

// dryRunBatch is the batch of a dry run, which sends no FCALL: only core
// reads, already done per page.
const dryRunBatch = 256

// DefaultPipelines is the number of pipelines in flight to a standalone
// server: two, so the server works on one while the client decodes the
// other. In a cluster the primaries already work in parallel and one
// pipeline each measured both faster and fairer (BENCHMARKS.md).
const defaultPipelines = 2

// pageSize is how many due members of one set one read returns: several
// batches, so a backlog in a single set (a lane's solo executions all land
// on one partition) still keeps the pipelines busy.
const pageSize = 512

// readBudget bounds the members read in one pipelined page read: about a
// quarter of a millisecond of server time, for the same reason as
// coreChunk: one whole page, or the pages of several sets with few due.
const readBudget = 512

// Run is one pass over the scope.
type Run struct {
	c      *redisops.Client
	opts   Options
	shards []*worker
	// ServerTimeMs is the earliest primary clock.
	ServerTimeMs int64
	// Due is how many members were due when the run was planned.
	Due int64
	// Delayed counts the members of the sets in scope, per lane, when the
	// run was planned (not with Executions).
	Delayed map[string]int64

	emitMu   sync.Mutex
	examined int64
	stopped  bool
	budget   *budget
	rate     *rate.Limiter
}

// errExaminedBound stops a dry run at Options.MaxExamined.
var errExaminedBound = errors.New("the dry run reached its bound of entries examined")

// LimitReached reports a run that stopped at its --limit: it did not see
// every due entry.
func (r *Run) LimitReached() bool { return r.budget.exhausted() }

// StoppedEarly reports a dry run that stopped at Options.MaxExamined with
// due entries left unread.
func (r *Run) StoppedEarly() bool {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	return r.stopped
}

// worker is the run's share of one primary: its sets to walk (or ids to
// look up) and the bound on its pipelines in flight.
type worker struct {
	sh       *redisops.Shard
	cursors  []*cursor
	ids      []model.ExecutionID
	inflight chan struct{}
	sizer    *batchSizer
	// noRepair says why repairs are off on this primary for the run: the
	// rules a repair lacks (+watch, +multi, +exec; noRepairWhy
	// WhyRepairRefused) or the server's refusal of one (OOM at maxmemory;
	// WhyRepairServerRefused). Its repairable shapes stay needs_repair.
	noRepair    string
	noRepairWhy model.Why
}

// Batches says how the run's FCALL batches were sized (summed over the
// primaries; the largest batch of any).
func (r *Run) Batches() BatchStats {
	var out BatchStats
	var n float64
	for _, w := range r.shards {
		st := w.sizer.snapshot()
		out.Batches += st.Batches
		out.Max = max(out.Max, st.Max)
		out.Last = max(out.Last, st.Last)
		if st.PerCallUs > 0 {
			out.PerCallUs += st.PerCallUs
			n++
		}
	}
	if n > 0 {
		out.PerCallUs /= n
	}
	return out
}

// Plan prepares a run: which primary owns what, each primary's clock, and
// how many members are due in each set (one pipelined ZCOUNT pass).
func Plan(ctx context.Context, c *redisops.Client, opts Options) (*Run, error) {
	opts = withDefaults(c, opts)
	r := &Run{c: c, opts: opts, Delayed: map[string]int64{}}
	parts := opts.Scope.AllPartitions()
	if len(opts.Executions) > 0 {
		parts = idPartitions(opts.Executions)
	}
	shards, err := c.Shards(ctx, parts)
	if err != nil {
		return nil, err
	}
	if r.ServerTimeMs, err = c.ReadClocks(ctx, shards, opts.Snapshot); err != nil {
		return nil, err
	}
	if opts.Limit > 0 {
		r.budget = newBudget(opts.Limit)
	}
	if opts.Rate > 0 {
		// A tenth of a second's worth per batch at most: a bigger burst
		// would let the first second run well over the rate.
		r.rate = rate.NewLimiter(rate.Limit(opts.Rate), max(1, int(opts.Rate/10)))
	}
	for _, sh := range shards {
		w := &worker{sh: sh, inflight: make(chan struct{}, opts.Pipelines)}
		// --max-stall bounds what another client may wait for: every batch
		// in flight on this primary, so each gets its share.
		w.sizer = newBatchSizer(sh.Addr(), opts.MaxStall/time.Duration(opts.Pipelines), opts.BatchSize, opts.Sizes)
		r.shards = append(r.shards, w)
	}
	if len(opts.Executions) > 0 {
		for _, w := range r.shards {
			for _, id := range opts.Executions {
				if slices.Contains(w.sh.Partitions(), id.Partition) {
					w.ids = append(w.ids, id)
				}
			}
			r.Due += int64(len(w.ids))
		}
		return r, nil
	}
	if err := r.countDue(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// RemainingDue counts what is due in the run's sets now, by each primary's
// clock read again: what is left for the next run, whoever else promoted
// meanwhile.
func (r *Run) RemainingDue(ctx context.Context) (int64, error) {
	var shards []*redisops.Shard
	for _, w := range r.shards {
		shards = append(shards, w.sh)
	}
	if _, err := r.c.ReadClocks(ctx, shards, nil); err != nil {
		return 0, err
	}
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for _, w := range r.shards {
		g.Go(func() error {
			due, _, _, err := r.c.CountDue(gctx, w.sh, r.opts.Scope.Groups(w.sh.Partitions()))
			for _, n := range due {
				total.Add(n)
			}
			return err
		})
	}
	err := g.Wait()
	return total.Load(), err
}

// withDefaults fills in what the caller left zero.
func withDefaults(c *redisops.Client, opts Options) Options {
	if opts.MaxStall <= 0 {
		opts.MaxStall = defaultMaxStall
	}
	if opts.DryRun && opts.BatchSize <= 0 {
		opts.BatchSize = dryRunBatch
	}
	if opts.Pipelines <= 0 {
		opts.Pipelines = defaultPipelines
		if c.IsCluster() {
			opts.Pipelines = 1
		}
	}
	return opts
}

// countDue gives every worker a cursor per set with due members (one
// pipelined ZCOUNT and ZCARD per set, per primary in parallel) and sums
// what is due and delayed.
func (r *Run) countDue(ctx context.Context) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, w := range r.shards {
		g.Go(func() error {
			groups := r.opts.Scope.Groups(w.sh.Partitions())
			counts, sizes, errs, err := r.c.CountDue(gctx, w.sh, groups)
			if err != nil {
				return err
			}
			var due int64
			delayed := map[string]int64{}
			for i, gr := range groups {
				n := counts[i]
				if errs[i] != nil {
					// A key of the wrong type still gets a cursor: its page
					// read reports the error against the set.
					n = 1
				}
				if n > 0 {
					w.cursors = append(w.cursors, &cursor{PartitionLane: gr, key: redisops.DelayedKey(gr.Partition, gr.Lane), due: n, planned: n})
					due += n
				}
				delayed[gr.Lane] += sizes[i]
			}
			mu.Lock()
			r.Due += due
			for l, n := range delayed {
				r.Delayed[l] += n
			}
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

func idPartitions(ids []model.ExecutionID) []int {
	seen := map[int]bool{}
	var out []int
	for _, id := range ids {
		if !seen[id.Partition] {
			seen[id.Partition] = true
			out = append(out, id.Partition)
		}
	}
	return out
}

// Execute promotes (or, in a dry run, predicts) every due execution in
// scope. emit receives each result, one at a time. When ctx is cancelled
// the batch in flight completes and Execute returns ctx's error; when a
// server is lost Execute returns a redisops.ServerError of KindUnreachable
// after emitting what was done, and the other primaries stop too.
func (r *Run) Execute(ctx context.Context, emit func(model.Result)) error {
	bound := int64(0)
	if r.opts.DryRun {
		bound = r.opts.MaxExamined
	}
	if r.opts.BeforeWrite != nil && !r.opts.DryRun {
		// Asked again by the connection itself, right before each write
		// leaves it: after a dial, a handshake or a wait for a pooled
		// connection that came after the engine's own question.
		r.c.SetWriteGate(r.opts.BeforeWrite)
		defer r.c.SetWriteGate(nil)
	}
	bctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	safeEmit := func(res model.Result) {
		r.emitMu.Lock()
		defer r.emitMu.Unlock()
		if bound > 0 && r.examined >= bound {
			// Read beside the last one before the stop took effect.
			r.stopped = true
			return
		}
		r.examined++
		emit(res)
		if bound > 0 && r.examined == bound && r.examined < r.Due {
			r.stopped = true
			stop(errExaminedBound)
		}
	}
	g, gctx := errgroup.WithContext(bctx)
	for _, w := range r.shards {
		g.Go(func() error {
			if err := r.checkPermissions(gctx, w); err != nil {
				return err
			}
			if len(r.opts.Executions) > 0 {
				return r.runIDs(gctx, w, safeEmit)
			}
			return r.runSets(gctx, w, safeEmit)
		})
	}
	err := g.Wait()
	if ctx.Err() == nil && errors.Is(context.Cause(bctx), errExaminedBound) {
		return nil
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return err
}

// checkPermissions asks, before the first FCALL on a primary that has work,
// whether the user may run what the function runs inside: a refusal
// half-way through would leave executions in no set. A user who may not
// run the repairs' WATCH or MULTI still promotes; its repairable shapes
// are reported as needs_repair, naming the rule.
func (r *Run) checkPermissions(ctx context.Context, w *worker) error {
	if r.opts.DryRun || (len(w.cursors) == 0 && len(w.ids) == 0) {
		return nil
	}
	p, lane := 0, "default"
	switch {
	case len(w.cursors) > 0:
		p, lane = w.cursors[0].Partition, w.cursors[0].Lane
	default:
		p = w.ids[0].Partition
		if len(r.opts.Scope.Lanes) > 0 {
			lane = r.opts.Scope.Lanes[0]
		}
	}
	perms, err := r.c.ProbePermissions(ctx, w.sh, p, lane, r.opts.Repair)
	if err != nil {
		return err
	}
	if err := perms.RequireWrite(); err != nil {
		return err
	}
	if !r.opts.Repair {
		return nil
	}
	for _, m := range perms.Missing {
		if m == "+watch" || m == "+multi" {
			w.noRepair = strings.TrimSpace(w.noRepair + " " + m)
			w.noRepairWhy = model.WhyRepairRefused
		}
	}
	return nil
}
