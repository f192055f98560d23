package promote

import (
	"strconv"
	"strings"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

// Decide is what ff_promote_delayed would do with a due delayed entry whose
// core reads v, and the two shapes where it must not be called at all
// (WouldRepair with the shape): a misindexed eligible execution, which the
// function would remove from every scheduling set, and a delayed one
// without delay_until, on which it fails with a Lua error forever.
func Decide(v redisops.CoreView, nowMs int64) (model.Outcome, string) {
	if shape := RepairShape(v); shape != "" {
		return model.WouldRepair, string(shape)
	}
	return predictPromote(v.Exists, v.Phase, v.Eligibility, v.DelayUntil, nowMs)
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

// RepairShape reports which repairable shape a due delayed entry is in.
func RepairShape(v redisops.CoreView) Shape {
	if !v.Exists || v.Phase != "runnable" {
		return notRepairShape
	}
	switch {
	case v.Eligibility == "eligible_now" && v.Ownership == "unowned" && !v.InEligible:
		return Misindexed
	case v.Eligibility == "not_eligible_until_time":
		if _, err := strconv.ParseFloat(strings.TrimSpace(v.DelayUntil), 64); err != nil {
			return NoDelayUntil
		}
	}
	return notRepairShape
}

// PredictPromote is ff_promote_delayed's decision, made without writing.
func predictPromote(exists bool, phase, eligibility, delayUntil string, nowMs int64) (model.Outcome, string) {
	switch {
	case !exists:
		return model.WouldClean, string(model.NotFoundCleaned)
	case phase != "runnable":
		return model.WouldClean, string(model.NotRunnableCleaned)
	case eligibility != "not_eligible_until_time":
		return model.WouldClean, string(model.NotDelayedCleaned)
	}
	du, err := strconv.ParseFloat(strings.TrimSpace(delayUntil), 64)
	if err != nil {
		return model.WouldFail, "core has no numeric delay_until: the function fails with a Lua error"
	}
	if du > float64(nowMs) {
		return model.NotYetDue, ""
	}
	return model.WouldPromote, ""
}

// staysInSet reports outcomes after which the member is still in its set.
func staysInSet(o model.Outcome) bool {
	switch o {
	case model.Promoted, model.NotFoundCleaned, model.NotRunnableCleaned, model.NotDelayedCleaned, model.Repaired:
		return false
	}
	return true
}
