package promote

import "testing"

// The cursor resumes from the last score seen and skips only the stayers
// at that score, so a read never walks past members it already returned.
func TestCursorResumesByScore(t *testing.T) {
	c := &cursor{key: "k", due: 10, planned: 10}
	if r := c.request(); !r.Start || r.Skip != 0 {
		t.Fatalf("first request %+v", r)
	}
	// distinct scores, all stay: resume after the last, nothing to skip
	// beyond the one stayer at it
	c.advance([]float64{1, 2, 3}, []bool{true, true, true})
	if r := c.request(); r.Start || r.After != 3 || r.Skip != 1 {
		t.Fatalf("after distinct stayers: %+v", r)
	}
	// equal scores: the stayers at the last score are skipped, the ones
	// that left the set are not counted
	c.advance([]float64{3, 5, 5, 5}, []bool{true, true, false, true})
	if r := c.request(); r.After != 5 || r.Skip != 2 {
		t.Fatalf("after equal scores: %+v", r)
	}
	// a page that continues at the same score adds to the skip
	c.advance([]float64{5, 5}, []bool{true, false})
	if r := c.request(); r.After != 5 || r.Skip != 3 {
		t.Fatalf("continuing the same score: %+v", r)
	}
}

// A set that keeps yielding beyond what was due when the run was planned
// is left for the next run.
func TestCursorStopsBeyondPlan(t *testing.T) {
	c := &cursor{planned: 10}
	scores := make([]float64, pageSize)
	stays := make([]bool, pageSize)
	for i := range scores {
		scores[i] = float64(i)
	}
	c.advance(scores, stays)
	if c.exhausted() {
		t.Fatal("exhausted after one page")
	}
	c.advance(scores[:11], stays[:11])
	if !c.exhausted() {
		t.Fatalf("not exhausted after %d reads of %d planned", c.read, c.planned)
	}
}
