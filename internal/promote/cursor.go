package promote

import (
	"sync"

	"github.com/flowfabric/ffdelay/internal/model"

	"github.com/flowfabric/ffdelay/redisops"
)

// cursor walks one delayed set in the set's own order (score, then member)
// from the last member read. The next page is read while the members of
// the last one are still being promoted, so a read cannot depend on their
// outcomes: it starts at the last score read, skips the members known to
// stay there, asks for as many more as may still be waiting for their
// FCALL, and the caller drops what it has already read (at that score,
// members up to the last one). Members that stay (not yet due, failing,
// filtered out, malformed) are stepped over without being read again, so
// they never block the due members behind them and every read costs the
// server what the first one did.
type cursor struct {
	model.PartitionLane
	key string

	mu      sync.Mutex
	started bool
	// after and last are the last member read: its score and itself.
	after float64
	last  string
	// stay counts the members at score after (up to last) known to stay in
	// the set; pending those whose outcome is not known yet. lastStay is
	// the greatest of the members known to stay: with many of them, the
	// next read starts after it by rank instead of skipping them one by
	// one (an offset the server walks on every read).
	stay, pending int64
	lastStay      string
	due           int64
	// count is how many members one read asks for (0: pageSize); smaller
	// for a set whose members are large.
	count int64
	// read counts the members read; a set that keeps yielding well beyond
	// what was due when the run was planned (someone keeps adding due
	// entries) is left for the next run, so a run always ends.
	read, planned int64
}

// request is the next read of the set.
func (c *cursor) request() redisops.PageRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	count := int64(pageSize)
	if c.count > 0 {
		count = c.count
	}
	r := redisops.PageRequest{Key: c.key, Start: !c.started, After: c.after, Skip: c.stay, Count: count, Extra: c.pending}
	if c.stay >= rankAfterStayers && c.lastStay != "" {
		r.AfterMember = c.lastStay
	}
	return r
}

// rankAfterStayers is how many members known to stay at one score make
// the next read start by rank (one more round trip) rather than by
// offset: past a page of them, walking the offset costs the server more.
const rankAfterStayers = pageSize

// fresh drops the members of a page read by request that were read
// before (at score after, up to last), records the rest as read and
// pending, and returns how many it kept: they are the page's first
// members... after the dropped ones, in order.
func (c *cursor) fresh(members []string, scores []float64) (from int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		for from < len(members) && scores[from] == c.after && members[from] <= c.last {
			from++
		}
	}
	for i := from; i < len(members); i++ {
		if !c.started || scores[i] != c.after {
			c.started, c.after, c.stay, c.pending, c.lastStay = true, scores[i], 0, 0, ""
		}
		c.last = members[i]
		c.pending++
	}
	n := int64(len(members) - from)
	c.due -= n
	c.read += n
	return from
}

// settle records the outcome of member, read at score: whether it stays
// in the set. Only members at the last score read still matter.
func (c *cursor) settle(score float64, member string, stays bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if score != c.after {
		return
	}
	c.pending--
	if stays {
		c.stay++
		if member > c.lastStay {
			c.lastStay = member
		}
	}
}

// exhausted reports a set that has yielded its planned due members and a
// page more.
func (c *cursor) exhausted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read >= c.planned+pageSize
}
