package output

import (
	"fmt"

	"github.com/flowfabric/ffdelay/internal/model"
)

// word fills in a result's Reason (and, for members that were never handed
// to the function, its Error) from the engine's typed Why. Every sentence
// about an outcome is written here.
func word(r model.Result) model.Result {
	if r.Reason == "" {
		r.Reason = reasonText(r.Why, r.WhyDetail, r.Outcome)
	}
	switch r.Why {
	case model.WhyMalformed:
		r.Error = "malformed member: " + r.WhyDetail
	case model.WhyWrongTag:
		r.Error = fmt.Sprintf("id is tagged for partition %s but sits in partition %d's delayed set", r.WhyDetail, r.Partition)
	}
	return r
}

func reasonText(why model.Why, detail string, o model.Outcome) string {
	repair := ""
	if o == model.NeedsRepair {
		repair = "; run promote --repair"
	}
	if o == model.Repaired {
		switch why {
		case model.WhyMisindexed:
			return "was misindexed: moved to the eligible set with its create score"
		case model.WhyNoDelayUntil:
			return "had no delay_until: set it to its delayed score and promoted it, in one transaction"
		}
	}
	switch why {
	case model.WhyCleaned:
		return detail
	case model.WhyNoNumericDelayUntil:
		return "core has no numeric delay_until: the function fails with a Lua error"
	case model.WhyMisindexed:
		return "misindexed: eligible_now but in the delayed set and in no eligible set; ff_promote_delayed would drop it from every set" + repair
	case model.WhyNoDelayUntil:
		return "no delay_until in the core (resumed with a delay): ff_promote_delayed fails on it forever" + repair
	case model.WhyBackoff:
		return "failed 3 cycles in a row; retried after 10 cycles"
	case model.WhyNamespace:
		return "namespace " + detail
	case model.WhyNamespaceMissing:
		return "namespace unreadable"
	case model.WhyTag:
		return "tag " + detail + " does not match"
	case model.WhyTagsUnreadable:
		return "tags unreadable"
	case model.WhyNotInScope:
		return "in no delayed set of the lanes and partitions in scope"
	case model.WhyRepairRefused:
		return "needs repair, but this user may not run what a repair runs: grant " + detail + " (nothing was written)"
	case model.WhyRepairServerRefused:
		return "needs repair, but the server refused a repair (" + detail + "): repairs are off for the rest of this run (nothing was written)"
	case model.WhyBadScore:
		return "unrepairable: " + detail + "; left where it is (the function would update the core and drop the delayed entry before its ZADD failed, leaving it in no set): fix the field, then promote"
	case model.WhyWrongLane:
		return "its core says lane " + detail + ", but it sits in this lane's delayed set: the function would make it eligible in the wrong lane; left where it is (ffdelay audit reports it)"
	case model.WhyPromotedElsewhere:
		return "already promoted by another promoter (between ffdelay's read and its call)"
	case model.WhyStaleEntry:
		return "stale entry: the execution was not delayed; the function removed it from the delayed set"
	case model.WhyNoSuchExecution:
		return "no such execution: no core and in no delayed set (check the id; ffdelay inspect shows what the server holds)"
	case model.WhyScoreInFuture:
		return "its delayed score is in the future"
	case model.WhyLuaNil:
		return "stuck: no delay_until in the core (resumed with a delay); the engine's promoter fails on it forever"
	case model.WhyRepairConflict:
		return "the execution changed while it was being repaired; left as it is"
	}
	return ""
}
