package promote

import (
	"testing"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

func TestPredictPromote(t *testing.T) {
	for _, tc := range []struct {
		exists          bool
		phase, elig, du string
		want            model.Outcome
	}{
		{false, "", "", "", model.WouldClean},
		{true, "terminal", "not_eligible_until_time", "1", model.WouldClean},
		{true, "runnable", "eligible_now", "", model.WouldClean},
		{true, "runnable", "not_eligible_until_time", "", model.WouldFail},
		{true, "runnable", "not_eligible_until_time", "soon", model.WouldFail},
		{true, "runnable", "not_eligible_until_time", "2000", model.NotYetDue},
		{true, "runnable", "not_eligible_until_time", "1000.5", model.NotYetDue},
		{true, "runnable", "not_eligible_until_time", "1000", model.WouldPromote},
		{true, "runnable", "not_eligible_until_time", "999.25", model.WouldPromote},
	} {
		if got, _ := predictPromote(tc.exists, tc.phase, tc.elig, tc.du, 1000); got != tc.want {
			t.Errorf("PredictPromote(%v %q %q %q) = %s, want %s", tc.exists, tc.phase, tc.elig, tc.du, got, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		v    redisops.CoreView
		want model.Outcome
	}{
		// misindexed eligible: never handed to the function
		{redisops.CoreView{Exists: true, Phase: "runnable", Eligibility: "eligible_now", Ownership: "unowned"}, model.WouldRepair},
		// eligible_now and already in the eligible set: a stale entry the function cleans
		{redisops.CoreView{Exists: true, Phase: "runnable", Eligibility: "eligible_now", Ownership: "unowned", InEligible: true}, model.WouldClean},
		// eligible_now but leased: a worker owns it; the function cleans the entry
		{redisops.CoreView{Exists: true, Phase: "runnable", Eligibility: "eligible_now", Ownership: "leased"}, model.WouldClean},
		// delayed without delay_until (resumed with a delay), or garbage in it
		{redisops.CoreView{Exists: true, Phase: "runnable", Eligibility: "not_eligible_until_time"}, model.WouldRepair},
		{redisops.CoreView{Exists: true, Phase: "runnable", Eligibility: "not_eligible_until_time", DelayUntil: "soon"}, model.WouldRepair},
		// FlowFabric writes fractional retry times with Lua's %.14g
		{redisops.CoreView{Exists: true, Phase: "runnable", Eligibility: "not_eligible_until_time", DelayUntil: "9.995e+02"}, model.WouldPromote},
		{redisops.CoreView{Exists: true, Phase: "runnable", Eligibility: "not_eligible_until_time", DelayUntil: "1500"}, model.NotYetDue},
		{redisops.CoreView{Exists: true, Phase: "terminal", Eligibility: "eligible_now"}, model.WouldClean},
		{redisops.CoreView{}, model.WouldClean},
	} {
		if got, reason := Decide(tc.v, 1000); got != tc.want {
			t.Errorf("Decide(%+v) = %s (%s), want %s", tc.v, got, reason, tc.want)
		}
	}
}
