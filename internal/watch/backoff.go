package watch

import "github.com/flowfabric/ffdelay/internal/model"

// Failure backoff, as FlowFabric's engine does it: an id that fails this
// many cycles in a row sits out the next backoffCycles cycles.
const (
	strikes       = 3
	backoffCycles = 10
)

// backoff tracks the ids that fail cycle after cycle. Its state holds only
// ids seen in the last cycle (failing, or sitting out): an id that left its
// set (promoted or repaired elsewhere, cleaned by the engine) is forgotten
// at the end of the cycle that no longer saw it, so the state is bounded by
// what the server holds and the stuck count is what the server holds now.
type backoff struct {
	ids  map[string]*failing
	seen map[string]bool
	// sets are the delayed sets that failed as a whole (a page that could
	// not be read): each is reported once while it keeps failing, apart
	// from the executions, which it does not hold back.
	sets, setsSeen map[model.PartitionLane]bool
}

type failing struct {
	fails     int
	skipUntil int
	reported  bool
}

func newBackoff() *backoff {
	return &backoff{ids: map[string]*failing{}, seen: map[string]bool{}, sets: map[model.PartitionLane]bool{}, setsSeen: map[model.PartitionLane]bool{}}
}

// skipSet is the ids that sit out this cycle. It is a copy made before the
// cycle starts: the promotion workers read it concurrently while the
// cycle's results update the backoff.
func (b *backoff) skipSet(cycle int) map[string]bool {
	out := make(map[string]bool)
	for id, f := range b.ids {
		if f.skipUntil >= cycle {
			out[id] = true
		}
	}
	return out
}

// record notes one result of the cycle and says whether a failure is new
// (to report once, not every cycle).
func (b *backoff) record(r model.Result, cycle int) (report bool) {
	id := r.ExecutionID
	if id == "" {
		if r.Outcome != model.Failed {
			return false
		}
		// A failure of a whole set: no id to sit out, one report per set.
		set := model.PartitionLane{Partition: r.Partition, Lane: r.Lane}
		b.setsSeen[set] = true
		if b.sets[set] {
			return false
		}
		b.sets[set] = true
		return true
	}
	switch r.Outcome {
	case model.Failed, model.NeedsRepair, model.Unrepairable:
		b.seen[id] = true
		f := b.ids[id]
		if f == nil {
			f = &failing{}
			b.ids[id] = f
		}
		f.fails++
		if f.fails >= strikes {
			f.skipUntil = cycle + backoffCycles
			f.fails = 0
		}
		if !f.reported {
			f.reported = true
			return true
		}
	case model.SkippedBackoff:
		b.seen[id] = true
	default:
		delete(b.ids, id)
	}
	return false
}

// endCycle forgets every id the cycle did not see (it has left its set, or
// the cycle did not reach it) and returns how many are stuck (failing or
// sitting out) and how many of those sit out their backoff.
func (b *backoff) endCycle(cycle int) (stuck, sittingOut int) {
	for id, f := range b.ids {
		if !b.seen[id] {
			delete(b.ids, id)
			continue
		}
		if f.skipUntil >= cycle {
			sittingOut++
		}
	}
	clear(b.seen)
	for set := range b.sets {
		if !b.setsSeen[set] {
			delete(b.sets, set)
		}
	}
	clear(b.setsSeen)
	return len(b.ids), sittingOut
}
