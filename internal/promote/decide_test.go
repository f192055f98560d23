package promote

import (
	"testing"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

// delayed is a runnable, delayed core with delay_until du (set).
func delayed(du string) redisops.CoreView {
	return redisops.CoreView{Exists: true, Phase: "runnable", Eligibility: "not_eligible_until_time", Ownership: "unowned",
		DelayUntil: du, DelayUntilSet: true, Priority: "0", PrioritySet: true, CreatedAt: "1", CreatedAtSet: true}
}

// The classifier's table: core fields and set memberships in, what
// ff_promote_delayed (read as its own Lua reads numbers) would do, or which
// shape keeps ffdelay from calling it, out. Every shape the real functions
// produce, and the hostile ones.
func TestDecide(t *testing.T) {
	with := func(v redisops.CoreView, f func(*redisops.CoreView)) redisops.CoreView { f(&v); return v }
	for _, tc := range []struct {
		name string
		v    redisops.CoreView
		want model.Outcome
	}{
		{"no core", redisops.CoreView{}, model.WouldClean},
		{"terminal core", with(delayed("1"), func(v *redisops.CoreView) { v.Phase = "terminal" }), model.WouldClean},
		{"eligible and in its eligible set: a stale entry", with(delayed(""), func(v *redisops.CoreView) { v.Eligibility, v.InEligible = "eligible_now", true }), model.WouldClean},
		{"eligible but leased: a worker owns it", with(delayed(""), func(v *redisops.CoreView) { v.Eligibility, v.Ownership = "eligible_now", "leased" }), model.WouldClean},
		{"misindexed: eligible, in no eligible set", with(delayed(""), func(v *redisops.CoreView) { v.Eligibility = "eligible_now" }), model.WouldRepair},
		{"resumed with a delay: delay_until empty", delayed(""), model.WouldRepair},
		{"garbage delay_until", delayed("soon"), model.WouldRepair},
		{"no delay_until field: Lua reads 0", with(delayed(""), func(v *redisops.CoreView) { v.DelayUntilSet = false }), model.WouldPromote},
		{"retry backoff, fractional, %.14g", delayed("9.995e+02"), model.WouldPromote},
		{"due exactly", delayed("1000"), model.WouldPromote},
		{"not yet due", delayed("1000.5"), model.NotYetDue},
		{"delay of -1e400: -inf, promoted", delayed("-1e400"), model.WouldPromote},
		{"delay of nan: the comparison is false, promoted", delayed("nan"), model.WouldPromote},
		{"delay of +inf: never due", delayed("inf"), model.NotYetDue},
		{"hexadecimal delay", delayed("0x10"), model.WouldPromote},
		{"priority nan: the ZADD would fail after the writes", with(delayed("1"), func(v *redisops.CoreView) { v.Priority = "nan" }), model.Unrepairable},
		{"priority garbage: a Lua error after the writes", with(delayed("1"), func(v *redisops.CoreView) { v.Priority = "high" }), model.Unrepairable},
		{"created_at empty", with(delayed("1"), func(v *redisops.CoreView) { v.CreatedAt = "" }), model.Unrepairable},
		{"priority inf and created_at inf: nan", with(delayed("1"), func(v *redisops.CoreView) { v.Priority, v.CreatedAt = "inf", "inf" }), model.Unrepairable},
		{"priority inf: -inf is a score", with(delayed("1"), func(v *redisops.CoreView) { v.Priority = "inf" }), model.WouldPromote},
		{"no priority field: Lua reads 0", with(delayed("1"), func(v *redisops.CoreView) { v.Priority, v.PrioritySet = "", false }), model.WouldPromote},
		{"delayed core in another lane's set", with(delayed("1"), func(v *redisops.CoreView) { v.Lane, v.WrongLane = "default", true }), model.WouldFail},
		{"eligible core in another lane's set: stale, never misindexed", with(delayed(""), func(v *redisops.CoreView) { v.Eligibility, v.WrongLane = "eligible_now", true }), model.WouldClean},
	} {
		if got, reason := Decide(tc.v, 1000); got != tc.want {
			t.Errorf("%s: Decide = %s (%s), want %s", tc.name, got, reason, tc.want)
		}
	}
}
