package promote

import (
	"fmt"
	"strconv"
	"testing"
)

// The cursor resumes from the last member read: at its score it skips the
// members known to stay, asks for as many more as still wait for their
// FCALL, and drops those it has read before.
func TestCursorResumesAfterLastMember(t *testing.T) {
	c := &cursor{key: "k", due: 10, planned: 10}
	if r := c.request(); !r.Start || r.Skip != 0 || r.Extra != 0 {
		t.Fatalf("first request %+v", r)
	}
	if from := c.fresh([]string{"a", "b", "c"}, []float64{1, 2, 3}); from != 0 {
		t.Fatalf("first page: dropped %d", from)
	}
	// c is still in flight: the next read starts at its score, skips
	// nothing known to stay and asks for one more.
	if r := c.request(); r.Start || r.After != 3 || r.Skip != 0 || r.Extra != 1 {
		t.Fatalf("while c is in flight: %+v", r)
	}
	// a and b settle at scores behind the cursor: no effect.
	c.settle(1, "a", true)
	c.settle(2, "b", false)
	if r := c.request(); r.Skip != 0 || r.Extra != 1 {
		t.Fatalf("after members behind the cursor settled: %+v", r)
	}
	// The next page was read before c's FCALL ran: c comes back and is
	// dropped; d and e at the same score are new.
	if from := c.fresh([]string{"c", "d", "e", "f"}, []float64{3, 3, 3, 4}); from != 1 {
		t.Fatalf("dropped %d, want c only", from)
	}
	if r := c.request(); r.After != 4 || r.Skip != 0 || r.Extra != 1 {
		t.Fatalf("after a page ending at a new score: %+v", r)
	}
	// f stays (its FCALL failed): the next read skips it at score 4.
	c.settle(4, "f", true)
	if r := c.request(); r.After != 4 || r.Skip != 1 || r.Extra != 0 {
		t.Fatalf("after f stayed: %+v", r)
	}
	// A page at the same score adds to what waits there; members at that
	// score up to the last one read are dropped, also when the skip
	// fell short (g's FCALL has not run yet).
	if from := c.fresh([]string{"g", "h"}, []float64{4, 4}); from != 0 {
		t.Fatalf("dropped %d", from)
	}
	c.settle(4, "g", false) // g promoted
	if r := c.request(); r.After != 4 || r.Skip != 1 || r.Extra != 1 {
		t.Fatalf("with h in flight: %+v", r)
	}
	if from := c.fresh([]string{"f", "h", "i"}, []float64{4, 4, 5}); from != 2 {
		t.Fatalf("dropped %d, want f and h", from)
	}
	if c.read != 9 || c.due != 1 {
		t.Fatalf("read %d due %d, want 9 and 1", c.read, c.due)
	}
}

// A set that keeps yielding beyond what was due when the run was planned
// is left for the next run.
func TestCursorStopsBeyondPlan(t *testing.T) {
	c := &cursor{planned: 10}
	members := make([]string, pageSize+11)
	scores := make([]float64, pageSize+11)
	for i := range scores {
		scores[i] = float64(i)
		members[i] = strconv.Itoa(i)
	}
	c.fresh(members[:pageSize], scores[:pageSize])
	if c.exhausted() {
		t.Fatal("exhausted after one page")
	}
	c.fresh(members[pageSize:], scores[pageSize:])
	if !c.exhausted() {
		t.Fatalf("not exhausted after %d reads of %d planned", c.read, c.planned)
	}
}

// Past a page of members known to stay at one score, the next read starts
// after the greatest of them by rank, not by an offset the server walks.
func TestCursorReadsByRankPastManyStayers(t *testing.T) {
	c := &cursor{key: "k", due: 2000, planned: 2000}
	members := make([]string, pageSize+1)
	scores := make([]float64, len(members))
	for i := range members {
		members[i] = fmt.Sprintf("m%05d", i)
		scores[i] = 7
	}
	c.fresh(members, scores)
	for _, m := range members[:pageSize-1] {
		c.settle(7, m, true)
	}
	if r := c.request(); r.AfterMember != "" || r.Skip != pageSize-1 {
		t.Fatalf("below the threshold: %+v", r)
	}
	c.settle(7, members[pageSize-1], true)
	r := c.request()
	if r.AfterMember != members[pageSize-1] || r.Extra != 1 {
		t.Fatalf("past the threshold: %+v, want to read after %s", r, members[pageSize-1])
	}
	// The last one promoted: the greatest stayer stays the start.
	c.settle(7, members[pageSize], false)
	if r := c.request(); r.AfterMember != members[pageSize-1] || r.Extra != 0 {
		t.Fatalf("after the last settled: %+v", r)
	}
	// A new score starts from nothing known to stay.
	c.fresh([]string{"z"}, []float64{8})
	if r := c.request(); r.AfterMember != "" || r.Skip != 0 {
		t.Fatalf("at a new score: %+v", r)
	}
}
