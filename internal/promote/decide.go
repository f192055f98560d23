package promote

import (
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

// Decide is what ff_promote_delayed would do with a due delayed entry whose
// core reads v, read as the function's own Lua reads it (tonumber, a
// missing field counting as 0), and the shapes on which it must not be
// called at all: the two repairable ones (WouldRepair with the shape), a
// promotion whose eligible score cannot be written (Unrepairable: the
// function would update the core and drop the delayed entry before its
// ZADD failed), and a delayed core's entry in another lane's set
// (WouldFail: the function would make it eligible in the wrong lane).
func Decide(v redisops.CoreView, nowMs int64) (model.Outcome, string) {
	if shape := repairShape(v); shape != "" {
		return model.WouldRepair, string(shape)
	}
	o, detail := predictPromote(v, nowMs)
	if o != model.WouldPromote {
		return o, detail
	}
	if v.WrongLane {
		return model.WouldFail, string(model.WhyWrongLane)
	}
	if _, fault := model.PromoteScore(v.Priority, v.PrioritySet, v.CreatedAt, v.CreatedAtSet); fault != "" {
		return model.Unrepairable, fault
	}
	return model.WouldPromote, ""
}

// Shape names an entry ffdelay repairs instead of handing it to the
// function.
type Shape string

// The repairable shapes (shared/spec/flowfabric.md, "Known ways an
// execution gets stuck").
const (
	Misindexed     Shape = "misindexed"
	NoDelayUntil   Shape = "no_delay_until"
	notRepairShape Shape = ""
)

// repairShape reports which repairable shape a due delayed entry is in. An
// entry in the set of a lane other than its core's is never one: a
// misindexed check needs the core's own eligible set, and the fix writes
// there.
func repairShape(v redisops.CoreView) Shape {
	if !v.Exists || v.Phase != "runnable" || v.WrongLane {
		return notRepairShape
	}
	switch {
	case v.Eligibility == "eligible_now" && v.Ownership == "unowned" && !v.InEligible:
		return Misindexed
	case v.Eligibility == "not_eligible_until_time":
		// tonumber(core.delay_until or "0"): nil only for a present field
		// that is no number ("" after a resume with a delay).
		if _, ok := model.LuaField(v.DelayUntil, v.DelayUntilSet); !ok {
			return NoDelayUntil
		}
	}
	return notRepairShape
}

// predictPromote is ff_promote_delayed's decision, made without writing.
func predictPromote(v redisops.CoreView, nowMs int64) (model.Outcome, string) {
	switch {
	case !v.Exists:
		return model.WouldClean, string(model.NotFoundCleaned)
	case v.Phase != "runnable":
		return model.WouldClean, string(model.NotRunnableCleaned)
	case v.Eligibility != "not_eligible_until_time":
		return model.WouldClean, string(model.NotDelayedCleaned)
	}
	du, ok := model.LuaField(v.DelayUntil, v.DelayUntilSet)
	if !ok {
		return model.WouldFail, "core has no numeric delay_until: the function fails with a Lua error"
	}
	// `delay_until > now_ms` is false for nan, as in Lua: it is promoted.
	if du > float64(nowMs) {
		return model.NotYetDue, ""
	}
	return model.WouldPromote, ""
}

// staysInSet reports outcomes after which the member is known to be still
// in its set: the cursor skips that many members with an offset. An
// unconfirmed call may have removed its member, so it is not counted: a
// member counted as staying that had left would make the cursor skip one
// it never read, while one not counted that stayed is only read again and
// dropped.
func staysInSet(o model.Outcome) bool {
	switch o {
	case model.Promoted, model.NotFoundCleaned, model.NotRunnableCleaned, model.NotDelayedCleaned, model.Repaired, model.Unconfirmed:
		return false
	}
	return true
}
