package watch

import (
	"sort"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
)

// Failure backoff. As FlowFabric's engine does it, an id that fails this
// many cycles in a row sits out the next firstSitOut cycles; unlike the
// engine, each failure after a sit-out doubles the next one (10, 20, 40...
// cycles), up to about maxSitOut of wall time, so a stuck execution costs a
// handful of attempts an hour, not thousands a day.
const (
	strikes     = 3
	firstSitOut = 10
	maxSitOut   = 10 * time.Minute
)

// maxEventLines bounds the stuck, reminder and recovery lines one cycle
// logs: past it, one line counts the rest.
const maxEventLines = 10

// backoff tracks the ids that fail cycle after cycle. Its state holds only
// ids seen in the last cycle (failing, or sitting out): an id that left its
// set (promoted or repaired elsewhere, cleaned by the engine) is forgotten,
// as recovered, at the end of the cycle that no longer saw it, so the
// state is bounded by what the server holds and the stuck count is what
// the server holds now.
type backoff struct {
	ids  map[string]*failing
	seen map[string]bool
	// sets are the delayed sets that failed as a whole (a page that could
	// not be read): each is reported once while it keeps failing, apart
	// from the executions, which it does not hold back.
	sets, setsSeen map[model.PartitionLane]bool
	// capCycles is maxSitOut in cycles of the loop's interval.
	capCycles int
	now       func() time.Time
	// events waits for the end of the cycle.
	events []output.StuckEvent
}

// failing is one id that failed: its consecutive failures before its first
// sit-out, how many sit-outs it has had, until which cycle it sits out, and
// since when it is stuck.
type failing struct {
	result    model.Result
	fails     int
	sitOuts   int
	skipUntil int
	attempts  int
	since     time.Time
	reminded  time.Time
}

func newBackoff(interval time.Duration) *backoff {
	capCycles := firstSitOut
	if interval > 0 {
		capCycles = max(firstSitOut, int(maxSitOut/interval))
	}
	return &backoff{ids: map[string]*failing{}, seen: map[string]bool{}, sets: map[model.PartitionLane]bool{},
		setsSeen: map[model.PartitionLane]bool{}, capCycles: capCycles, now: time.Now}
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
			now := b.now()
			f = &failing{since: now, reminded: now}
			b.ids[id] = f
			report = true
			b.events = append(b.events, output.StuckEvent{Kind: output.BecameStuck, Result: r})
		}
		f.result = r
		f.attempts++
		sitOut := true
		if f.sitOuts == 0 {
			f.fails++
			sitOut = f.fails >= strikes
		}
		if sitOut {
			// Three strikes, then every failure after a sit-out: sit
			// out twice as long as the last time, up to the cap.
			f.skipUntil = cycle + min(firstSitOut<<min(f.sitOuts, 30), b.capCycles)
			f.sitOuts++
		}
		return report
	case model.SkippedBackoff:
		b.seen[id] = true
	default:
		if f := b.ids[id]; f != nil {
			b.recover(id, f, r.Outcome)
		}
	}
	return false
}

// recover ends an id's backoff: the cycle gave it outcome (a promotion, a
// repair...), or "" when it left its set.
func (b *backoff) recover(id string, f *failing, outcome model.Outcome) {
	b.events = append(b.events, output.StuckEvent{Kind: output.Recovered, Result: f.result, Outcome: outcome,
		Since: b.now().Sub(f.since), Attempts: f.attempts})
	delete(b.ids, id)
}

// endCycle queues a reminder for each id stuck for another maxSitOut and
// returns how many are stuck (failing or sitting out), how many of those
// sit out their backoff, and the cycle's events, oldest stuck first. After
// a complete cycle (one that saw every due entry in scope) it also forgets
// every id and set the cycle did not see: it has left its set, it
// recovered. A cycle that --limit cut short may simply not have reached
// them: they stay stuck until a complete cycle says otherwise.
func (b *backoff) endCycle(cycle int, complete bool) (stuck, sittingOut int, events []output.StuckEvent) {
	now := b.now()
	for id, f := range b.ids {
		if !b.seen[id] {
			if complete {
				b.recover(id, f, "")
			}
			continue
		}
		if f.skipUntil >= cycle {
			sittingOut++
		}
		if now.Sub(f.reminded) >= maxSitOut {
			f.reminded = now
			b.events = append(b.events, output.StuckEvent{Kind: output.StillStuck, Result: f.result, Since: now.Sub(f.since),
				Attempts: f.attempts})
		}
	}
	clear(b.seen)
	for set := range b.sets {
		if complete && !b.setsSeen[set] {
			delete(b.sets, set)
		}
	}
	clear(b.setsSeen)
	events, b.events = b.events, nil
	sort.SliceStable(events, func(i, j int) bool { return events[i].Kind < events[j].Kind })
	return len(b.ids), sittingOut, events
}
