package model

import (
	"reflect"
	"testing"
)

// Every outcome is counted in exactly one of the totals' parts, so the
// parts add up to the results examined; Counts names every count.
func TestTotalsAddUp(t *testing.T) {
	outcomes := []Outcome{Promoted, NotYetDue, NotFoundCleaned, NotRunnableCleaned, NotDelayedCleaned,
		WouldPromote, WouldClean, WouldFail, SkippedFilter, SkippedBackoff, NotInDelayedSet, Failed,
		NeedsRepair, Unrepairable, WouldRepair, Repaired, Unconfirmed, NotSent}
	var t1 PromoteTotals
	for i, o := range outcomes {
		t1.AddResult(Result{Outcome: o})
		if t1.Sum() != t1.Examined || t1.Examined != int64(i+1) {
			t.Fatalf("after %s: sum %d, examined %d, want %d", o, t1.Sum(), t1.Examined, i+1)
		}
	}
	t1.AddResult(Result{Outcome: NotDelayedCleaned, Why: WhyPromotedElsewhere})
	if t1.Sum() != t1.Examined || t1.PromotedElsewhere != 1 {
		t.Fatalf("promoted elsewhere: %+v", t1)
	}
	var merged PromoteTotals
	merged.Merge(t1)
	merged.Merge(t1)
	if merged.Examined != 2*t1.Examined || merged.Sum() != merged.Examined {
		t.Fatalf("Merge lost a count: %+v", merged)
	}
	// Counts names every field but the derived Examined.
	if got, want := len(t1.Counts()), reflect.TypeOf(t1).NumField()-1; got != want {
		t.Fatalf("Counts has %d entries for %d counts", got, want)
	}
}
