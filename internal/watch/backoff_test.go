package watch

import (
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
)

// A failure of a whole set (no execution id) is reported once per set,
// while it keeps failing: two sets failing are two reports, and neither
// hides the other or an execution's failure.
func TestBackoffReportsEachSetOnce(t *testing.T) {
	b := newBackoff(time.Second)
	setA := model.Result{Partition: 1, Lane: "default", Outcome: model.Failed, Error: "WRONGTYPE"}
	setB := model.Result{Partition: 2, Lane: "default", Outcome: model.Failed, Error: "WRONGTYPE"}
	exec := model.Result{Partition: 1, Lane: "default", ExecutionID: "{fp:1}:x", Outcome: model.Failed}
	for cycle := 1; cycle <= 3; cycle++ {
		reports := 0
		for _, r := range []model.Result{setA, setB, exec} {
			if b.record(r, cycle) {
				reports++
			}
		}
		want := 0
		if cycle == 1 {
			want = 3
		}
		if reports != want {
			t.Fatalf("cycle %d: %d reports, want %d", cycle, reports, want)
		}
		if stuck, _, _ := b.endCycle(cycle, true); stuck != 1 {
			t.Fatalf("cycle %d: %d stuck, want the one execution (sets are not executions)", cycle, stuck)
		}
	}
	// A set that recovered for a cycle is reported again when it fails anew.
	b.endCycle(4, true)
	if !b.record(setA, 5) {
		t.Fatal("a set failing again after a clean cycle was not reported")
	}
}

// A stuck execution is tried 3 cycles in a row, then after 10, 20, 40...
// cycles, never more than maxSitOut apart: over 30 s at 100ms (300 cycles)
// that is 7 attempts, not the engine's 3 every 13 cycles (69). It is said
// stuck once, reminded of after each maxSitOut, and said recovered once,
// when it leaves its set.
func TestBackoffDoublesAndTellsOnce(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	b := newBackoff(100 * time.Millisecond)
	b.now = func() time.Time { return clock }
	id := "{fp:1}:00000000-0000-4000-8000-000000000001"
	stuck := model.Result{Partition: 1, Lane: "default", ExecutionID: id, Outcome: model.NeedsRepair}
	attempts := 0
	var events []output.StuckEvent
	var gaps []int
	last := 0
	for cycle := 1; cycle <= 300; cycle++ {
		clock = clock.Add(100 * time.Millisecond)
		if b.skipSet(cycle)[id] {
			b.record(model.Result{Partition: 1, Lane: "default", ExecutionID: id, Outcome: model.SkippedBackoff}, cycle)
		} else {
			attempts++
			if last > 0 {
				gaps = append(gaps, cycle-last)
			}
			last = cycle
			b.record(stuck, cycle)
		}
		n, _, ev := b.endCycle(cycle, true)
		if n != 1 {
			t.Fatalf("cycle %d: %d stuck, want 1", cycle, n)
		}
		events = append(events, ev...)
	}
	if attempts != 7 {
		t.Errorf("%d attempts in 300 cycles (gaps %v), want 7", attempts, gaps)
	}
	want := []int{1, 1, 11, 21, 41, 81}
	for i, g := range want {
		if i >= len(gaps) || gaps[i] != g {
			t.Fatalf("gaps between attempts %v, want %v first", gaps, want)
		}
	}
	if len(events) != 1 || events[0].Kind != output.BecameStuck {
		t.Fatalf("events %+v: want one, became stuck", events)
	}
	// Past the cap between attempts, and a reminder once per maxSitOut.
	cycle := 300
	reminders := 0
	for i := 0; i < int(maxSitOut/(100*time.Millisecond))*2; i++ {
		cycle++
		clock = clock.Add(100 * time.Millisecond)
		if !b.skipSet(cycle)[id] {
			b.record(stuck, cycle)
		} else {
			b.record(model.Result{ExecutionID: id, Outcome: model.SkippedBackoff}, cycle)
		}
		_, _, ev := b.endCycle(cycle, true)
		for _, e := range ev {
			if e.Kind == output.StillStuck {
				reminders++
			}
		}
	}
	if reminders != 2 {
		t.Errorf("%d reminders in 20 minutes, want 2 (one per %s)", reminders, maxSitOut)
	}
	if f := b.ids[id]; f.skipUntil-cycle > b.capCycles {
		t.Errorf("sits out %d cycles, more than the cap %d", f.skipUntil-cycle, b.capCycles)
	}
	// Repaired elsewhere: it leaves its set, and is said recovered once.
	_, _, ev := b.endCycle(cycle+1, true)
	if len(ev) != 1 || ev[0].Kind != output.Recovered || ev[0].Since < 20*time.Minute {
		t.Fatalf("events %+v: want one recovery after 20 minutes stuck", ev)
	}
	if n, _, _ := b.endCycle(cycle+2, true); n != 0 {
		t.Errorf("%d stuck after the recovery", n)
	}
}

// A cycle that --limit cut short still says what became stuck and counts
// it, but does not take an id it did not reach for recovered: only a
// complete cycle that no longer sees it does.
func TestBackoffCycleCutShort(t *testing.T) {
	b := newBackoff(time.Second)
	id := "{fp:1}:00000000-0000-4000-8000-000000000001"
	b.record(model.Result{Partition: 1, Lane: "default", ExecutionID: id, Outcome: model.NeedsRepair}, 1)
	n, _, ev := b.endCycle(1, false)
	if n != 1 || len(ev) != 1 || ev[0].Kind != output.BecameStuck {
		t.Fatalf("cut short: %d stuck, events %+v: want 1 stuck, said once", n, ev)
	}
	// The next cycles stop at their limit before reaching it.
	for cycle := 2; cycle <= 5; cycle++ {
		if n, _, ev := b.endCycle(cycle, false); n != 1 || len(ev) != 0 {
			t.Fatalf("cycle %d cut short without reaching it: %d stuck, events %+v: want 1 stuck, nothing said", cycle, n, ev)
		}
	}
	// A complete cycle that does not see it: it left its set.
	n, _, ev = b.endCycle(6, true)
	if n != 0 || len(ev) != 1 || ev[0].Kind != output.Recovered {
		t.Fatalf("complete: %d stuck, events %+v: want it recovered", n, ev)
	}
}
