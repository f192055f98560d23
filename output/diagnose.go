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
func Diagnose(ins *model.Inspection, count int, registered func(lane string) bool) {
	now := ins.ServerTimeMs
	var d string
	core := ins.Core
	du := strings.TrimSpace(core["delay_until"])
	duMs, duErr := strconv.ParseFloat(du, 64)
	switch {
	case !ins.Found:
		d = "not found: no core and in no scheduling set"
	case core == nil && ins.InDelayed:
		d = "stale index entry with no core: the next promotion removes it (not_found_cleaned)"
	case core == nil:
		d = "stale eligible entry with no core"
	case ins.InDelayed && core["lifecycle_phase"] != "runnable":
		d = fmt.Sprintf("in the delayed set but lifecycle_phase is %q: the next promotion removes it (not_runnable_cleaned)", core["lifecycle_phase"])
	case ins.InDelayed && core["eligibility_state"] == "eligible_now" && ins.InEligible:
		d = "already eligible and in its eligible set; the delayed entry is stale: the next promotion removes it (not_delayed_cleaned) and it stays eligible"
	case ins.InDelayed && core["eligibility_state"] != "not_eligible_until_time":
		d = fmt.Sprintf("already eligible (eligibility_state %q) but in the delayed set: the next promotion removes it and leaves it in no scheduling set", core["eligibility_state"])
		ins.Stuck = true
	case ins.InDelayed && du == "":
		d = "stuck: in the delayed set without delay_until: the engine's promoter fails on it forever"
		ins.Stuck = true
	case ins.InDelayed && duErr != nil:
		d = fmt.Sprintf("stuck: delay_until %q is not a number: the engine's promoter fails on it forever", du)
		ins.Stuck = true
	case ins.InDelayed && duMs <= float64(now):
		d = "due: overdue by " + HumanDuration(time.Duration(now-int64(duMs))*time.Millisecond)
	case ins.InDelayed:
		d = fmt.Sprintf("delayed until %d (in %s)", int64(duMs), HumanDuration(time.Duration(int64(duMs)-now)*time.Millisecond))
		if ins.DelayedScore != nil && float64(*ins.DelayedScore) <= float64(now) {
			d += "; its score says due, so it occupies the engine's 50-entry window until then"
		}
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
