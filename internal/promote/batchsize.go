package promote

import (
	"context"
	"sync"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

// DefaultMaxStall is the most server time one pipeline of FCALLs may take
// by default: other clients of the server (workers claiming, the engine)
// wait at most about that long for ffdelay.
const DefaultMaxStall = time.Millisecond

// maxBatch bounds a batch whatever the measured cost.
const maxBatch = 1024

// fallbackBatch is the batch size when the server's counters cannot be
// read (a user without +info): small enough for a busy server.
const fallbackBatch = 16

// sampleEvery is how many batches go out between two readings of the
// server's counters, once the size has settled.
const sampleEvery = 8

// batchSizer sizes one primary's FCALL batches so that one batch costs the
// server at most the budget. It measures the server's own time per call
// from INFO commandstats (cmdstat_fcall usec and calls) as the run goes,
// since the cost differs between a quiet server, a busy one and primaries
// sharing cores, and starts small: one call, then doubling per reading up
// to what the budget allows, so no batch overshoots it by more than twice.
type batchSizer struct {
	c      *redisops.Client
	sh     *redisops.Shard
	budget time.Duration
	fixed  int // --batch-size: no measuring

	mu        sync.Mutex
	size      int
	sinceRead int
	lastCalls int64
	lastUsec  int64
	perCall   time.Duration
	broken    bool
	sampling  bool
	stats     BatchStats
	learned   *LearnedSizes
}

// LearnedSizes is what batch sizing learned per primary: the batch size
// and the measured cost per call, kept across the runs of a watch loop.
type LearnedSizes struct {
	mu sync.Mutex
	m  map[string]learnedSize
}

type learnedSize struct {
	size    int
	perCall time.Duration
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

func newBatchSizer(c *redisops.Client, sh *redisops.Shard, budget time.Duration, fixed int) *batchSizer {
	s := &batchSizer{c: c, sh: sh, budget: budget, fixed: fixed, size: 1}
	if fixed > 0 {
		s.size = fixed
	}
	return s
}

// start reads the counters once, so the first batch can be measured.
func (s *batchSizer) start(ctx context.Context) {
	if s.fixed > 0 {
		return
	}
	calls, usec, err := s.c.FCallStats(ctx, s.sh)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.broken, s.size = true, fallbackBatch
		return
	}
	s.lastCalls, s.lastUsec = calls, usec
	if v, ok := s.learned.get(s.sh.Addr()); ok {
		// What the last run learned: its size and cost, still checked by
		// the readings that follow.
		s.size, s.perCall = v.size, v.perCall
		s.stats.PerCallUs = float64(v.perCall) / float64(time.Microsecond)
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

// done is called after a batch; now and then it reads the counters again
// and resizes.
func (s *batchSizer) done(ctx context.Context) {
	s.mu.Lock()
	if s.fixed > 0 || s.broken || s.sampling {
		s.mu.Unlock()
		return
	}
	s.sinceRead++
	// While growing, every batch is followed by a reading; then every
	// sampleEvery batches.
	growing := s.perCall == 0 || s.size < s.target()
	if !growing && s.sinceRead < sampleEvery {
		s.mu.Unlock()
		return
	}
	s.sampling = true
	s.mu.Unlock()

	calls, usec, err := s.c.FCallStats(ctx, s.sh)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.sampling = false
	if err != nil {
		s.broken, s.size = true, min(s.size, fallbackBatch)
		return
	}
	dc, du := calls-s.lastCalls, usec-s.lastUsec
	s.lastCalls, s.lastUsec, s.sinceRead = calls, usec, 0
	if dc <= 0 || du < 0 {
		return
	}
	s.perCall = time.Duration(du) * time.Microsecond / time.Duration(dc)
	s.stats.PerCallUs = float64(du) / float64(dc)
	s.size = max(1, min(s.target(), s.size*2))
	s.learned.put(s.sh.Addr(), learnedSize{size: s.size, perCall: s.perCall})
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
