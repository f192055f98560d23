package output

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
)

// Diagnose writes a one-line diagnosis of an inspected execution and marks
// the states the engine cannot get out of by itself as stuck.
func Diagnose(ins *model.Inspection, count int, registered func(lane string) bool, verdict Verdict) {
	now := ins.ServerTimeMs
	var d string
	core := ins.Core
	du, duOK := model.LuaField(core["delay_until"], hasField(core, "delay_until"))
	switch {
	case !ins.Found:
		d = "not found: no core and in no scheduling set"
	case core == nil && ins.InDelayed:
		d = "stale index entry with no core: the next promotion removes it (not_found_cleaned)"
	case core == nil:
		d = "stale eligible entry with no core"
	case ins.InDelayed:
		// The engine's own classification of a delayed entry (promote,
		// check and the standby use the same one).
		d = delayedDiagnosis(ins, verdict, du, duOK, now)
	case ins.InEligible:
		d = "already eligible: waiting for a worker"
	case core["lifecycle_phase"] == "terminal":
		d = fmt.Sprintf("terminal (%s): not scheduled", core["terminal_outcome"])
	case core["lifecycle_phase"] == "active":
		d = "active: leased by a worker, not scheduled"
	case core["lifecycle_phase"] == "suspended":
		d = "suspended: not scheduled until resumed"
	case core["eligibility_state"] == "eligible_now" || core["eligibility_state"] == "not_eligible_until_time":
		d = fmt.Sprintf("in no scheduling set although %s: no worker will claim it and no promoter will see it", core["eligibility_state"])
		ins.Stuck = true
	default:
		d = fmt.Sprintf("in no scheduling set (%s, %s)", core["lifecycle_phase"], core["eligibility_state"])
	}
	if ins.Partition >= count {
		d += fmt.Sprintf("; partition %d is beyond the configured count %d, so the engine never scans it", ins.Partition, count)
		if ins.InDelayed {
			ins.Stuck = true
		}
	}
	if ins.InDelayed && ins.Lane != "" && ins.Lane != "default" && registered != nil && !registered(ins.Lane) {
		d += fmt.Sprintf("; lane %q is not registered (ff:idx:lanes): the engine never promotes it (ffdelay promote --lane %q does)", ins.Lane, ins.Lane)
	}
	ins.Diagnosis = d
}

// Verdict is what the engine's classifier (promote.Decide) says of an
// execution's delayed entry: the outcome a promotion would have and its
// detail.
type Verdict struct {
	Outcome model.Outcome
	Detail  string
}

func hasField(core map[string]string, f string) bool {
	_, ok := core[f]
	return ok
}

// delayedDiagnosis words the verdict on an entry in the delayed set.
func delayedDiagnosis(ins *model.Inspection, v Verdict, du float64, duOK bool, now int64) string {
	core := ins.Core
	switch v.Outcome {
	case model.WouldClean:
		switch model.Outcome(v.Detail) {
		case model.NotRunnableCleaned:
			return fmt.Sprintf("in the delayed set but lifecycle_phase is %q: the next promotion removes it (not_runnable_cleaned)", core["lifecycle_phase"])
		case model.NotDelayedCleaned:
			if ins.InEligible {
				return "already eligible and in its eligible set; the delayed entry is stale: the next promotion removes it (not_delayed_cleaned) and it stays eligible"
			}
			return fmt.Sprintf("not delayed (%s, %s): the delayed entry is stale and the next promotion removes it (not_delayed_cleaned)", core["eligibility_state"], core["ownership_state"])
		}
		return "the next promotion removes the entry (" + v.Detail + ")"
	case model.WouldRepair:
		ins.Stuck = true
		if v.Detail == "misindexed" {
			return fmt.Sprintf("already eligible (eligibility_state %q) but in the delayed set and in no eligible set: ff_promote_delayed would drop it from every set; promote --repair re-indexes it", core["eligibility_state"])
		}
		if strings.TrimSpace(core["delay_until"]) == "" {
			return "stuck: in the delayed set without delay_until: the engine's promoter fails on it forever; promote --repair fixes it"
		}
		return fmt.Sprintf("stuck: delay_until %q is not a number: the engine's promoter fails on it forever; promote --repair fixes it", core["delay_until"])
	case model.Unrepairable:
		ins.Stuck = true
		return "stuck: " + v.Detail + ": promoting it would leave it in no set, so ffdelay leaves it where it is; fix the field"
	case model.WouldFail:
		ins.Stuck = true
		return fmt.Sprintf("in this lane's delayed set, but its core says lane %q: the function would make it eligible in the wrong lane; ffdelay leaves it (audit reports it)", core["lane_id"])
	case model.NotYetDue:
		d := fmt.Sprintf("delayed until %d (in %s)", int64(du), HumanDuration(time.Duration(int64(du)-now)*time.Millisecond))
		if ins.DelayedScore != nil && float64(*ins.DelayedScore) <= float64(now) {
			d += "; its score says due, so it occupies the engine's 50-entry window until then"
		}
		return d
	}
	if !duOK || du != du || du < -1e15 {
		return fmt.Sprintf("due: delay_until %q reads as due to FlowFabric's Lua", core["delay_until"])
	}
	return "due: overdue by " + HumanDuration(time.Duration(now-int64(du))*time.Millisecond)
}

// HumanDuration prints a duration the way on-call engineers read it:
// 850ms, 4m12s, 3h5m, 2d4h.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(float64(d.Milliseconds()/100)/10, 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
