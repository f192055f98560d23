package promote

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
)

// defaultMaxStall is the most server time one pipeline of FCALLs may take
// by default: other clients of the server (workers claiming, the engine)
// wait at most about that long for ffdelay.
const defaultMaxStall = time.Millisecond

// maxBatch bounds a batch whatever the measured cost.
const maxBatch = 1024

// window is how many recent batches the cost estimate is made from.
const window = 16

// batchSizer sizes one primary's FCALL batches so that one batch holds the
// server for at most the budget: what another client waiting behind it
// feels. It measures what this connection's own batches cost, not the
// server-wide FCALL average, in the time of replies: a batch's reply could
// come at the earliest one network round trip after it was sent (base:
// the faster of two PINGs sent with the first batch, or what the last run
// measured), or, when the batch sent before it was still being worked on,
// right after that batch's reply; what it came later than that is the
// server's time for it. The estimate per call is the time of the last
// window batches over their calls, so a busy server (other clients,
// ffdelay's own reads) makes batches smaller, and a long link does not.
// Sizing starts from one call (or what the last run learned) and at most
// doubles per batch, so no batch overshoots the budget by more than twice.
type batchSizer struct {
	addr   string
	budget time.Duration
	fixed  int // --batch-size: no measuring

	// baseOnce starts the measure of the round trip; baseKnown is closed
	// when it is in; measuring is set once its goroutine started.
	baseOnce  sync.Once
	baseKnown chan struct{}
	measuring atomic.Bool

	mu      sync.Mutex
	size    int
	perCall time.Duration
	// base is the network's round trip.
	base time.Duration
	// launched numbers the batches in the order they were sent; replied
	// holds the recent ones' reply times.
	launched int
	replied  map[int]time.Time
	// samples are the last batches' calls and times.
	samples [window]sample
	seen    int
	stats   BatchStats
	learned *LearnedSizes
}

type sample struct {
	calls int
	took  time.Duration
}

// LearnedSizes is what batch sizing learned per primary: the batch size
// and the measured cost per call, kept across the runs of a watch loop.
type LearnedSizes struct {
	mu sync.Mutex
	m  map[string]learnedSize
}

type learnedSize struct {
	size          int
	perCall, base time.Duration
}

// NewLearnedSizes is an empty memory.
func NewLearnedSizes() *LearnedSizes { return &LearnedSizes{m: map[string]learnedSize{}} }

func (l *LearnedSizes) get(addr string) (learnedSize, bool) {
	if l == nil {
		return learnedSize{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.m[addr]
	return v, ok
}

func (l *LearnedSizes) put(addr string, v learnedSize) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[addr] = v
}

// BatchStats says how a run's batches were sized.
type BatchStats = model.BatchStats

func newBatchSizer(addr string, budget time.Duration, fixed int, learned *LearnedSizes) *batchSizer {
	s := &batchSizer{addr: addr, budget: budget, fixed: fixed, size: 1, learned: learned, replied: map[int]time.Time{}, baseKnown: make(chan struct{})}
	if fixed > 0 {
		s.size = fixed
		s.baseOnce.Do(func() { close(s.baseKnown) })
		return s
	}
	if v, ok := learned.get(addr); ok {
		// What the last run learned: its size and cost, still checked by
		// the batches that follow.
		s.size, s.perCall, s.base = v.size, v.perCall, v.base
		s.stats.PerCallUs = float64(v.perCall) / float64(time.Microsecond)
		s.baseOnce.Do(func() { close(s.baseKnown) })
	}
	return s
}

// measureBase measures the network's round trip with rtt, twice (the
// first may pay for a new connection), unless it is known; run it beside
// the first batch, not before it.
func (s *batchSizer) measureBase(rtt func() (time.Duration, error)) {
	s.baseOnce.Do(func() {
		s.measuring.Store(true)
		go func() {
			defer close(s.baseKnown)
			var best time.Duration
			for range 2 {
				d, err := rtt()
				if err != nil {
					break
				}
				if best == 0 || d < best {
					best = d
				}
			}
			s.mu.Lock()
			s.base = best
			s.mu.Unlock()
		}()
	})
}

// join waits for the round trip's measure, when one was started: a run
// leaves no goroutine behind.
func (s *batchSizer) join() {
	if s.measuring.Load() {
		<-s.baseKnown
	}
}

// next is the size of the next batch.
func (s *batchSizer) next() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Batches++
	s.stats.Max = max(s.stats.Max, s.size)
	s.stats.Last = s.size
	return s.size
}

// launch numbers a batch about to be sent.
func (s *batchSizer) launch() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.launched++
	return s.launched
}

// done records batch seq of calls, sent at sent and answered at replied,
// and resizes.
func (s *batchSizer) done(seq, calls int, sent, replied time.Time) {
	if s.fixed > 0 {
		return
	}
	// The PINGs went out before the first batch: they are in, or about to.
	<-s.baseKnown
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fixed > 0 || calls <= 0 {
		return
	}
	s.replied[seq] = replied
	delete(s.replied, seq-window)
	prev, known := s.replied[seq-1]
	if !known && seq > 1 {
		// The batch before is not answered yet, so this one did not
		// wait for it: it came first.
		prev = replied
	}
	from := sent.Add(s.base)
	if prev.After(from) {
		from = prev
	}
	s.samples[s.seen%window] = sample{calls: calls, took: max(0, replied.Sub(from))}
	s.seen++
	var n int
	var sum time.Duration
	for _, x := range s.samples {
		n += x.calls
		sum += x.took
	}
	s.perCall = max(time.Microsecond/10, sum/time.Duration(n))
	s.stats.PerCallUs = float64(s.perCall) / float64(time.Microsecond)
	s.size = max(1, min(s.target(), s.size*2))
	s.learned.put(s.addr, learnedSize{size: s.size, perCall: s.perCall, base: s.base})
}

// target is the batch the budget allows at the measured cost.
func (s *batchSizer) target() int {
	if s.perCall <= 0 {
		return maxBatch
	}
	return max(1, min(maxBatch, int(s.budget/s.perCall)))
}

func (s *batchSizer) snapshot() BatchStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
