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
	// Unconfirmed: the transaction was sent and its reply lost (the error
	// says why): it may have been applied. Without it, an error means
	// nothing was written.
	Unconfirmed bool
}

// repairTries bounds the WATCH/MULTI/EXEC attempts of one repair.
const repairTries = 3

// Repair applies action to id atomically: WATCH its core and its lane's
// delayed and eligible sets (one hash tag, so this works in a cluster),
// re-read them, let still (the caller's decision) confirm the shape, then
// MULTI/EXEC. A concurrent change aborts the transaction and the execution
// is read again, never overwritten. Like a batch of FCALLs, a repair that
// has started completes even when ctx is cancelled: its result is never
// lost to a stop (--limit, a signal) that came while its EXEC was in flight.
func (c *Client) Repair(ctx context.Context, sh *Shard, id model.ExecutionID, lane string, action RepairAction, still func(RepairState) bool) (RepairResult, error) {
	ctx = context.WithoutCancel(ctx)
	core, delayed, eligible := CoreKey(id.Partition, id.Raw), DelayedKey(id.Partition, lane), EligibleKey(id.Partition, lane)
	now := strconv.FormatInt(sh.nowMs, 10)
	var res RepairResult
	for try := 0; try < repairTries; try++ {
		res = RepairResult{}
		var fcall *redis.Cmd
		execSent := false
		err := sh.node.Watch(ctx, func(tx *redis.Tx) error {
			st, err := readRepairState(ctx, tx, core, delayed, eligible, id.Raw)
			if err != nil {
				return err
			}
			if !still(st) {
				res.Gone = true
				return nil
			}
			if fault := scoreFault(action, st); fault != "" {
				// Never a transaction whose ZADD can fail after its ZREM
				// (or a function call that fails after its writes).
				res.Unrepairable = fault
				return nil
			}
			execSent = true
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				switch action {
				case ToEligible:
					score, _ := model.PromoteScore(st.Priority, st.PrioritySet, st.CreatedAt, st.CreatedAtSet)
					p.ZRem(ctx, delayed, id.Raw)
					p.ZAdd(ctx, eligible, redis.Z{Score: score, Member: id.Raw})
				case SetDelayUntilAndPromote:
					p.HSet(ctx, core, "delay_until", strconv.FormatFloat(*st.DelayedScore, 'f', -1, 64))
					fcall = p.FCall(ctx, PromoteFunction, []string{core, delayed, eligible}, id.Raw, now)
				case ToDelayed:
					du, _ := model.LuaNumber(st.DelayUntil)
					p.ZAdd(ctx, delayed, redis.Z{Score: du, Member: id.Raw})
				}
				return nil
			})
			return err
		}, core, delayed, eligible)
		switch {
		case errors.Is(err, redis.TxFailedErr):
			continue
		case err != nil && fcall != nil && fcall.Err() != nil && kindOf(err) == KindOther:
			// The transaction ran; the function itself answered with an
			// error (a Lua error), which is the outcome.
			res.Applied = true
			res.Promote.Outcome, res.Promote.Detail = DecodePromoteReply(fcall.Val(), fcall.Err())
			return res, nil
		case err != nil:
			res.Unconfirmed = execSent && FateOf(err) == MayHaveRun
			return res, c.wrap(sh.addr, err)
		}
		if !res.Gone && res.Unrepairable == "" {
			res.Applied = true
			if fcall != nil {
				res.Promote.Outcome, res.Promote.Detail = DecodePromoteReply(fcall.Val(), fcall.Err())
			}
		}
		return res, nil
	}
	res.Conflict = true
	return res, nil
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
