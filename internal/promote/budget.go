package promote

import (
	"strings"
	"sync"
)

// budget shares --limit between concurrent workers: a batch only goes out
// with as many slots reserved as it could use, so the limit is never passed.
type budget struct {
	mu       sync.Mutex
	cond     *sync.Cond
	limit    int64
	used     int64
	reserved int64
}

func newBudget(limit int64) *budget {
	b := &budget{limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// reserve grants up to n slots, waiting while others hold the rest; 0 means
// the limit is reached.
func (b *budget) reserve(n int) int {
	if b == nil {
		return n
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		free := b.limit - b.used - b.reserved
		if free > 0 {
			g := min(int64(n), free)
			b.reserved += g
			return int(g)
		}
		if b.reserved == 0 {
			return 0
		}
		b.cond.Wait()
	}
}

// settle returns a reservation of granted slots of which used were used.
func (b *budget) settle(granted int, used int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.reserved -= int64(granted)
	b.used += used
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *budget) exhausted() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used >= b.limit
}

// isLuaNilCompare recognises the Lua error FlowFabric is known for: the
// function compared delay_until with nil (a core without delay_until).
func isLuaNilCompare(errText string) bool {
	return strings.Contains(errText, "compare number with nil") || strings.Contains(errText, "compare nil with number")
}
