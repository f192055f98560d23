package promote

import (
	"context"
	"errors"
	"slices"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"golang.org/x/sync/errgroup"
)

// candidate is one member read from a delayed set (or named with
// --execution).
type candidate struct {
	model.PartitionLane
	member string
	id     model.ExecutionID
	view   redisops.CoreView
	// cur and score say where the member was read, so its outcome can tell
	// the cursor whether it stays in the set; cur is nil for --execution.
	cur   *cursor
	score float64
}

// readAhead is how many chunks of checked candidates (coreChunk each) the
// reader may have ready beyond the batches in flight: enough that the
// sender never waits for a read, little enough to hold in memory.
const readAhead = 2

// coreChunk is how many cores one pipelined read asks for: a quarter of a
// millisecond of server time or so (an HMGET of eight fields measured 3.7
// µs inside the server on the bench machine, and as much again to read and
// answer it), so a read sitting beside the FCALL batches in flight adds
// little to what another client waits for.
const coreChunk = 64

// runSets walks one primary's sets in two stages that run at the same
// time: the reader reads pages and cores and keeps every execution the
// function must not see away from it; the sender hands the rest to
// ff_promote_delayed in batches. While a batch of FCALLs runs, the next
// cores are already being read, so the server never waits for ffdelay
// between a read and an FCALL; an execution is still read before its own
// FCALL, never after.
func (r *Run) runSets(ctx context.Context, w *worker, emit func(model.Result)) error {
	ready := make(chan []*candidate, readAhead)
	g, gctx := errgroup.WithContext(ctx)
	rctx, stopReader := context.WithCancel(gctx)
	defer stopReader()
	result := r.resultFunc(emit)
	g.Go(func() error {
		defer close(ready)
		err := r.read(rctx, w, emit, result, ready)
		if errors.Is(err, context.Canceled) && rctx.Err() != nil && gctx.Err() == nil {
			// Stopped by the sender (the --limit is reached): not a failure.
			return nil
		}
		return err
	})
	g.Go(func() error {
		defer stopReader()
		return r.send(gctx, w, ready, result)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// resultFunc emits a candidate's result and tells its cursor whether the
// member stays in the set.
func (r *Run) resultFunc(emit func(model.Result)) func(*candidate, model.Result) {
	return func(cd *candidate, res model.Result) {
		if cd.cur != nil {
			cd.cur.settle(cd.score, cd.member, staysInSet(res.Outcome))
		}
		res.Partition, res.Lane, res.ExecutionID = cd.Partition, cd.Lane, cd.member
		emit(res)
	}
}

// runIDs handles --execution: find each id's delayed set among the lanes in
// scope (one pipelined ZSCORE pass), then treat it like a page member.
func (r *Run) runIDs(ctx context.Context, w *worker, emit func(model.Result)) error {
	result := r.resultFunc(emit)
	scope := r.opts.Scope
	var ids []model.ExecutionID
	for _, id := range w.ids {
		if slices.Contains(scope.Partitions, id.Partition) {
			ids = append(ids, id)
		} else {
			emit(model.Result{Partition: id.Partition, ExecutionID: id.Raw, Outcome: model.NotInDelayedSet, Why: model.WhyNotInScope})
		}
	}
	// The core names the execution's lane, also one nobody registered;
	// the lanes in scope are looked in too (a core may be gone).
	coreLanes, err := r.c.CoreLanes(ctx, w.sh, ids)
	if err != nil {
		return err
	}
	lanes := make([][]string, len(ids))
	for i := range ids {
		if model.ValidateLane(coreLanes[i]) == nil {
			lanes[i] = append(lanes[i], coreLanes[i])
		}
		for _, l := range scope.Lanes {
			if l != coreLanes[i] {
				lanes[i] = append(lanes[i], l)
			}
		}
	}
	scores, err := r.c.DelayedScores(ctx, w.sh, ids, lanes)
	if err != nil {
		return err
	}
	var cands []*candidate
	for i, id := range ids {
		lane := -1
		for j := range lanes[i] {
			if scores[i][j] != nil {
				lane = j
				break
			}
		}
		switch {
		case lane < 0 && coreLanes[i] == "":
			emit(model.Result{Partition: id.Partition, ExecutionID: id.Raw, Outcome: model.Failed, Why: model.WhyNoSuchExecution})
		case lane < 0:
			emit(model.Result{Partition: id.Partition, Lane: coreLanes[i], ExecutionID: id.Raw, Outcome: model.NotInDelayedSet, Why: model.WhyNotInScope})
		case *scores[i][lane] > float64(w.sh.NowMs()):
			emit(model.Result{Partition: id.Partition, Lane: lanes[i][lane], ExecutionID: id.Raw, Outcome: model.NotYetDue, Why: model.WhyScoreInFuture})
		default:
			cands = append(cands, &candidate{PartitionLane: model.PartitionLane{Partition: id.Partition, Lane: lanes[i][lane]}, member: id.Raw})
		}
	}
	live, err := r.classify(ctx, w, cands, result)
	if err != nil {
		return err
	}
	ready := make(chan []*candidate, 1)
	ready <- live
	close(ready)
	if err := r.send(ctx, w, ready, result); err != nil {
		return err
	}
	return ctx.Err()
}
