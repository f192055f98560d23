// Package audit is ffdelay audit: the walk of every partition's
// all_executions, the comparison of each runnable core with its lane's
// scheduling sets (stranded, lost_delayed, duplicated, wrong_lane,
// foreign, unrepairable), and the atomic repairs. Every Redis command goes
// through redisops; findings are plain model values for output.
package audit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"golang.org/x/sync/errgroup"
)

// Options says what audit walks and whether it repairs.
type Options struct {
	Scope model.Scope
	// Lanes, when set, narrows the report to executions of these lanes.
	Lanes  []string
	Repair bool
}

// Audit is one walk of every partition's all_executions.
type Audit struct {
	// lanes counts the executions read per lane (from their cores).
	lanesMu sync.Mutex
	lanes   map[string]int64
	c       *redisops.Client
	opts    Options
	shards  []*redisops.Shard
	// ServerTimeMs is the earliest primary clock.
	ServerTimeMs int64
	// Total is how many executions the sets held when the walk was
	// planned (for a progress bar).
	Total int64
}

// Plan finds each partition's primary, its clock and the sizes of the
// sets to walk.
func Plan(ctx context.Context, c *redisops.Client, opts Options) (*Audit, error) {
	shards, err := c.Shards(ctx, opts.Scope.Partitions)
	if err != nil {
		return nil, err
	}
	a := &Audit{c: c, opts: opts, shards: shards}
	if a.ServerTimeMs, err = c.ReadClocks(ctx, shards, nil); err != nil {
		return nil, err
	}
	for _, sh := range shards {
		n, err := c.CountExecutions(ctx, sh, sh.Partitions())
		if err != nil {
			return nil, err
		}
		a.Total += n
	}
	return a, nil
}

// Run walks every partition (SSCAN, one page at a time, so memory stays
// bounded), emits each execution whose sets disagree with its core and,
// with Repair, re-indexes it atomically. scanned is called with the size of
// every page read. It returns how many executions were read.
func (a *Audit) Run(ctx context.Context, emit func(model.AuditFinding), scanned func(int)) (int64, error) {
	var mu sync.Mutex
	safeEmit := func(f model.AuditFinding) {
		mu.Lock()
		emit(f)
		mu.Unlock()
	}
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for _, sh := range a.shards {
		g.Go(func() error {
			// SSCAN visits every member about once: a cursor that keeps
			// coming back after several times the set in steps is a broken
			// server (bounded, so the walk ends).
			maxSteps := a.Total/1000*4 + 64*int64(len(sh.Partitions()))
			var steps int64
			for _, p := range sh.Partitions() {
				var cursor uint64
				for {
					if err := gctx.Err(); err != nil {
						return err
					}
					if steps++; steps > maxSteps {
						return fmt.Errorf("%s: SSCAN did not finish after %d steps over %d members: the server keeps returning a cursor", sh.Addr(), steps, a.Total)
					}
					members, next, err := a.c.ScanExecutions(gctx, sh, p, cursor)
					if err != nil {
						return err
					}
					if err := a.page(gctx, sh, p, members, safeEmit); err != nil {
						return err
					}
					total.Add(int64(len(members)))
					if scanned != nil {
						mu.Lock()
						scanned(len(members))
						mu.Unlock()
					}
					if cursor = next; cursor == 0 {
						break
					}
				}
			}
			return nil
		})
	}
	err := g.Wait()
	return total.Load(), err
}

func (a *Audit) page(ctx context.Context, sh *redisops.Shard, partition int, members []string, emit func(model.AuditFinding)) error {
	var ids []model.ExecutionID
	for _, m := range members {
		// A member that is not an id names no core: nothing to compare.
		id, err := model.ParseExecutionID(m)
		if err != nil {
			continue
		}
		if id.Partition != partition {
			// Hashed to another partition: only that partition's audit
			// may touch it (and --partition may not include it).
			emit(model.AuditFinding{ExecutionID: id.Raw, Partition: partition, Problem: model.Foreign,
				Error: fmt.Sprintf("listed in partition %d's all_executions, but its id belongs to partition %d; not repaired", partition, id.Partition)})
			continue
		}
		ids = append(ids, id)
	}
	views, err := a.c.ReadExecutions(ctx, sh, ids, a.opts.Scope.Lanes)
	if err != nil {
		return err
	}
	a.lanesMu.Lock()
	if a.lanes == nil {
		a.lanes = map[string]int64{}
	}
	for _, v := range views {
		a.lanes[v.Lane]++
	}
	a.lanesMu.Unlock()
	for _, v := range views {
		problem := problemOf(v)
		if problem == "" || (len(a.opts.Lanes) > 0 && !slices.Contains(a.opts.Lanes, v.Lane)) {
			continue
		}
		// The core and the sets were read in two pipelines: a worker's
		// function may have run in between. What looks wrong is read again
		// atomically before it is reported.
		again, err := a.c.RecheckExecution(ctx, sh, v.ID, v.Lane, a.opts.Scope.Lanes)
		if err != nil {
			return err
		}
		if v, problem = again, problemOf(again); problem == "" {
			continue
		}
		f := model.AuditFinding{ExecutionID: v.ID.Raw, Partition: v.ID.Partition, Lane: v.Lane, Problem: problem,
			InDelayed: problem == model.Stranded && v.InDelayed}
		if problem == model.WrongLane {
			f.Error = fmt.Sprintf("its core says lane %s, but the sets of lane %s hold it too; not repaired: remove the stray entry by hand", v.Lane, strings.Join(v.OtherLanes, ", "))
		}
		if a.opts.Repair {
			if err := a.repair(ctx, sh, v, &f); err != nil {
				return err
			}
		}
		emit(f)
	}
	return nil
}

// problemOf classifies a runnable execution whose scheduling sets
// disagree with its core; "" when they agree or it is not runnable
// (active, suspended and terminal executions are never touched).
func problemOf(v redisops.ExecutionView) model.AuditProblem {
	if v.Err != nil || !v.Exists || v.Phase != "runnable" {
		return ""
	}
	switch {
	case len(v.OtherLanes) > 0:
		return model.WrongLane
	case v.InDelayed && v.InEligible:
		return model.Duplicated
	case v.Eligibility == "eligible_now" && v.Ownership == "unowned" && !v.InEligible:
		return model.Stranded
	case v.Eligibility == "not_eligible_until_time" && !v.InDelayed:
		return model.LostDelayed
	}
	return ""
}

// repair re-indexes a stranded execution into its eligible set, and a lost
// delayed one whose delay_until parses into its delayed set, each with
// WATCH and MULTI/EXEC; a concurrent change leaves it as it is.
func (a *Audit) repair(ctx context.Context, sh *redisops.Shard, v redisops.ExecutionView, f *model.AuditFinding) error {
	var action redisops.RepairAction
	switch f.Problem {
	case model.Stranded:
		action = redisops.ToEligible
	case model.LostDelayed:
		if v.InEligible {
			f.Error = "not repaired: it is in the eligible set"
			return nil
		}
		action = redisops.ToDelayed
	default:
		return nil
	}
	still := func(st redisops.RepairState) bool {
		ev := redisops.ExecutionView{Exists: st.Exists, Phase: st.Phase, Eligibility: st.Eligibility, Ownership: st.Ownership,
			DelayUntil: st.DelayUntil, InDelayed: st.DelayedScore != nil, InEligible: st.InEligible}
		return problemOf(ev) == f.Problem
	}
	res, err := a.c.Repair(ctx, sh, v.ID, v.Lane, action, still)
	if err != nil {
		return err
	}
	switch {
	case res.Unrepairable != "":
		// A finding of its own, never an abort: the other partitions are
		// still worked.
		f.Problem, f.Error = model.AuditUnrepairable, "was "+string(f.Problem)+"; not repaired: "+res.Unrepairable
	case res.Applied:
		f.Repaired = true
	case res.Gone:
		f.Error = "not repaired: it changed meanwhile and no longer needs it"
	case res.Conflict:
		f.Error = "not repaired: other clients kept changing it; run audit again"
	}
	return nil
}

// Lanes counts the executions the run read, per lane (their cores'
// lane_id).
func (a *Audit) Lanes() map[string]int64 {
	a.lanesMu.Lock()
	defer a.lanesMu.Unlock()
	return maps.Clone(a.lanes)
}
