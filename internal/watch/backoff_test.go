package watch

import (
	"testing"

	"github.com/flowfabric/ffdelay/internal/model"
)

// A failure of a whole set (no execution id) is reported once per set,
// while it keeps failing: two sets failing are two reports, and neither
// hides the other or an execution's failure.
func TestBackoffReportsEachSetOnce(t *testing.T) {
	b := newBackoff()
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
		if stuck, _ := b.endCycle(cycle); stuck != 1 {
			t.Fatalf("cycle %d: %d stuck, want the one execution (sets are not executions)", cycle, stuck)
		}
	}
	// A set that recovered for a cycle is reported again when it fails anew.
	b.endCycle(4)
	if !b.record(setA, 5) {
		t.Fatal("a set failing again after a clean cycle was not reported")
	}
}
