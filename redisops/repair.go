package redisops

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// RepairAction is one of the atomic repairs the spec names.
type RepairAction int

const (
	// ToEligible moves an eligible_now execution into its lane's eligible
	// set with the create score -(priority*1e12)+created_at, and out of the
	// delayed set if it is there (misindexed or stranded).
	ToEligible RepairAction = iota + 1
	// SetDelayUntilAndPromote writes the delayed set's score into an empty
	// delay_until and runs ff_promote_delayed in the same transaction.
	SetDelayUntilAndPromote
	// ToDelayed puts a delayed execution that is in no delayed set back
	// into its lane's delayed set, scored by its delay_until.
	ToDelayed
)

// RepairState is what a repair reads, under WATCH, before it writes.
type RepairState struct {
	CoreView
	DelayedScore *float64
}

// RepairResult says what a repair did.
type RepairResult struct {
	// Applied: the transaction committed. For SetDelayUntilAndPromote,
	// Promote is the function's own outcome.
	Applied bool
	Promote PromoteReply
	// Gone: the re-check under WATCH found the execution no longer in the
	// shape being repaired; nothing was written.
	Gone bool
	// Conflict: other clients changed the keys on every try; nothing was
	// written.
	Conflict bool
	// Unrepairable names the field whose value cannot be a score; nothing
	// was written.
	Unrepairable string
	// Unconfirmed: the transaction was written and its reply lost (the
	// error says why): it may have been applied.
	Unconfirmed bool
	// Refused: the server refused the transaction before running any of
	// it (WATCH or MULTI refused, or a command refused as it was queued,
	// which aborts the EXEC: an ACL rule, OOM at maxmemory); nothing was
	// written, and the error says why. Another repair would meet the same
	// refusal: repairs stop for the run.
	Refused bool
	// NotSent: the transaction never reached the server (its connection
	// failed first); nothing was written.
	NotSent bool
	// Withheld: the write gate held the transaction back (a lease lost);
	// nothing was written and nothing is to be reported.
	Withheld bool
}

// repairTries bounds the WATCH/MULTI/EXEC attempts of one repair.
const repairTries = 3

// Repair applies action to id atomically: WATCH its core and its lane's
// delayed and eligible sets (one hash tag, so this works in a cluster),
// re-read them, let still (the caller's decision) confirm the shape, then
// MULTI/EXEC. A concurrent change aborts the transaction and the execution
// is read again, never overwritten. MULTI goes alone and its reply is read
// before anything is queued: were it refused (an ACL changed mid-run), the
// commands behind it would run one by one, outside any transaction. Like a
// batch of FCALLs, a repair that has started completes even when ctx is
// cancelled: its result is never lost to a stop (--limit, a signal) that
// came while its EXEC was in flight. What happened is decided by FateOf,
// as for every FCALL.
func (c *Client) Repair(ctx context.Context, sh *Shard, id model.ExecutionID, lane string, action RepairAction, still func(RepairState) bool) (RepairResult, error) {
	ctx = context.WithoutCancel(ctx)
	core, delayed, eligible := CoreKey(id.Partition, id.Raw), DelayedKey(id.Partition, lane), EligibleKey(id.Partition, lane)
	now := strconv.FormatInt(sh.nowMs, 10)
	for try := 0; try < repairTries; try++ {
		tr := repairTx{fcall: -1}
		err := sh.node.Watch(ctx, func(tx *redis.Tx) error {
			st, err := readRepairState(ctx, tx, core, delayed, eligible, id.Raw)
			if err != nil {
				return err
			}
			if !still(st) {
				tr.res.Gone = true
				return nil
			}
			if fault := scoreFault(action, st); fault != "" {
				// Never a transaction whose ZADD can fail after its ZREM
				// (or a function call that fails after its writes).
				tr.res.Unrepairable = fault
				return nil
			}
			tr.multi = tx.Do(ctx, "multi")
			if err := tr.multi.Err(); err != nil {
				return err
			}
			_, err = tx.Pipelined(ctx, func(p redis.Pipeliner) error {
				switch action {
				case ToEligible:
					score, _ := model.PromoteScore(st.Priority, st.PrioritySet, st.CreatedAt, st.CreatedAtSet)
					tr.queue(p.Do(ctx, "zrem", delayed, id.Raw))
					tr.queue(p.Do(ctx, "zadd", eligible, strconv.FormatFloat(score, 'f', -1, 64), id.Raw))
				case SetDelayUntilAndPromote:
					tr.queue(p.Do(ctx, "hset", core, "delay_until", strconv.FormatFloat(*st.DelayedScore, 'f', -1, 64)))
					tr.queue(p.Do(ctx, "fcall", PromoteFunction, 3, core, delayed, eligible, id.Raw, now))
					tr.fcall = len(tr.queued) - 1
				case ToDelayed:
					du, _ := model.LuaNumber(st.DelayUntil)
					tr.queue(p.Do(ctx, "zadd", delayed, strconv.FormatFloat(du, 'f', -1, 64), id.Raw))
				}
				tr.exec = p.Do(ctx, "exec")
				return nil
			})
			return err
		}, core, delayed, eligible)
		res, retry, err := tr.outcome(err)
		if retry {
			continue
		}
		if err != nil {
			return res, c.wrap(sh.addr, err)
		}
		return res, nil
	}
	return RepairResult{Conflict: true}, nil
}

// repairTx is one attempt's commands: MULTI, what it queued, EXEC.
type repairTx struct {
	res    RepairResult
	multi  *redis.Cmd
	queued []*redis.Cmd
	exec   *redis.Cmd
	fcall  int // index of the function's call among queued; -1: none
}

func (t *repairTx) queue(cmd *redis.Cmd) { t.queued = append(t.queued, cmd) }

// outcome decides what one attempt did from err (Watch's error) and the
// replies: retry after a WATCH conflict, else the result and the error
// that must stop the run, if any.
func (t *repairTx) outcome(err error) (RepairResult, bool, error) {
	res := t.res
	switch {
	case t.multi == nil:
		// Nothing queued: a read failed, or the shape is gone.
		if err == nil {
			return res, false, nil
		}
		return t.before(err)
	case t.multi.Err() != nil:
		return t.before(t.multi.Err())
	case t.exec == nil:
		return t.before(err)
	}
	execErr := t.exec.Err()
	if errors.Is(execErr, redis.Nil) {
		// A watched key changed: nothing ran; read again.
		return res, true, nil
	}
	if execErr != nil {
		if hasPrefix(execErr, "EXECABORT") {
			// A command was refused as it was queued: the server ran
			// none of them. Its own error says why (NOPERM, OOM...).
			res.Refused = true
			for _, q := range t.queued {
				if q.Err() != nil {
					return res, false, q.Err()
				}
			}
			return res, false, execErr
		}
		return t.before(execErr)
	}
	vals, ok := t.exec.Val().([]any)
	if !ok || len(vals) != len(t.queued) {
		return res, false, fmt.Errorf("EXEC answered %v for %d queued commands", t.exec.Val(), len(t.queued))
	}
	res.Applied = true
	for i, v := range vals {
		verr, isErr := v.(error)
		if i == t.fcall {
			if isErr {
				res.Promote.Outcome, res.Promote.Detail = DecodePromoteReply(nil, verr)
			} else {
				res.Promote.Outcome, res.Promote.Detail = DecodePromoteReply(v, nil)
			}
			if res.Promote.Outcome == model.Failed && mayHaveWritten(res.Promote.Detail) {
				return res, false, partialWrite(res.Promote.Detail, "the repair of this execution")
			}
			continue
		}
		if isErr {
			// A transaction is not rolled back: what ran before this
			// command stays written.
			return res, false, partialWrite(verr.Error(), "the repair of this execution")
		}
	}
	return res, false, nil
}

// before classifies a failure that came before EXEC ran anything: refused
// by the server, withheld by the gate, never written, or (a lost reply to
// the queued commands and EXEC) perhaps applied.
func (t *repairTx) before(err error) (RepairResult, bool, error) {
	res := t.res
	if gate := withheld(err); gate != nil {
		res.Withheld = true
		return res, false, gate
	}
	switch FateOf(err) {
	case NotRun:
		if isNotWritten(err) {
			res.NotSent = true
		} else {
			res.Refused = true
		}
	case MayHaveRun:
		// Only the queued commands and EXEC can have run: a lost reply
		// to WATCH, a read or MULTI left nothing queued behind it.
		if t.exec != nil {
			res.Unconfirmed = true
		} else {
			res.NotSent = true
		}
	}
	return res, false, err
}

// partialWrite is the error of a write that stopped part-way: ffdelay
// stops before the rest of the backlog.
func partialWrite(detail, what string) error {
	return &partialWriteError{detail: firstLine(detail), what: what}
}

type partialWriteError struct{ detail, what string }

func (e *partialWriteError) Error() string {
	return PromoteFunction + " or a repair's command was refused part-way in " + e.what + " (" + e.detail +
		"): it is not atomic when a command inside it is refused, so the execution may now be in no scheduling set; stopped before the rest of the backlog: fix the cause, then run ffdelay audit --repair to re-index it"
}

func readRepairState(ctx context.Context, tx *redis.Tx, core, delayed, eligible, id string) (RepairState, error) {
	var st RepairState
	var exists *redis.IntCmd
	var fields *redis.SliceCmd
	var ds, es *redis.FloatCmd
	_, err := tx.Pipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, core)
		fields = p.HMGet(ctx, core, "lifecycle_phase", "eligibility_state", "ownership_state", "delay_until", "priority", "created_at", "lane_id")
		ds = p.ZScore(ctx, delayed, id)
		es = p.ZScore(ctx, eligible, id)
		return nil
	})
	if err != nil && !errNil(err) {
		return st, err
	}
	vals, err := fields.Result()
	if err != nil {
		return st, err
	}
	if len(vals) != 7 {
		return st, fmt.Errorf("HMGET answered %d values for 7 fields", len(vals))
	}
	st.Exists = exists.Val() > 0
	st.Phase, st.Eligibility, st.Ownership, st.DelayUntil = str(vals[0]), str(vals[1]), str(vals[2]), str(vals[3])
	st.Priority, st.CreatedAt, st.Lane = str(vals[4]), str(vals[5]), str(vals[6])
	st.DelayUntilSet, st.PrioritySet, st.CreatedAtSet = vals[3] != nil, vals[4] != nil, vals[5] != nil
	// A set that could not be read (a key of the wrong type) is not an
	// absent member: the repair stops instead of deciding on a guess.
	if err := firstErr(nonNil(ds.Err()), nonNil(es.Err())); err != nil {
		return st, err
	}
	if v, err := ds.Result(); err == nil {
		st.DelayedScore = &v
	}
	st.InEligible = es.Err() == nil
	return st, nil
}

// scoreFault names what keeps a repair from writing valid scores: the
// eligible score (priority, created_at) for a move to the eligible set or
// for the function's own ZADD after delay_until is set, the delay_until for
// a move to the delayed set. "" when every score is good.
func scoreFault(action RepairAction, st RepairState) string {
	switch action {
	case ToEligible, SetDelayUntilAndPromote:
		_, fault := model.PromoteScore(st.Priority, st.PrioritySet, st.CreatedAt, st.CreatedAtSet)
		return fault
	case ToDelayed:
		if du, ok := model.LuaNumber(st.DelayUntil); !ok || math.IsNaN(du) {
			return "delay_until " + strconv.Quote(st.DelayUntil) + " is not a time"
		}
	}
	return ""
}

// nonNil is err unless it is a missing key or member.
func nonNil(err error) error {
	if errNil(err) {
		return nil
	}
	return err
}
