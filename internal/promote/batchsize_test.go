package promote

import (
	"testing"
	"time"
)

// Sizing follows what this connection's batches cost: the network's round
// trip does not count, a batch queued behind another counts from that
// one's reply, and sizes at most double per batch up to the budget.
func TestBatchSizerMeasuresItsOwnBatches(t *testing.T) {
	const rtt, perCall = 2 * time.Millisecond, 10 * time.Microsecond
	calls := func(n int) time.Duration { return time.Duration(n) * perCall }
	ping := func() (time.Duration, error) { return rtt, nil }
	s := newBatchSizer("a", time.Millisecond, 0, nil)
	s.measureBase(ping)
	t0 := time.Unix(1000, 0)
	var sizes []int
	// Batches one at a time over a long link: each takes the round trip
	// and its calls.
	for range 10 {
		n := s.next()
		sizes = append(sizes, n)
		s.done(s.launch(), n, t0, t0.Add(rtt+calls(n)))
		t0 = t0.Add(time.Second)
	}
	// The budget holds 100 calls.
	want := []int{1, 2, 4, 8, 16, 32, 64, 100, 100, 100}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("sizes %v, want about %v: the link's %s round trip counted as server time", sizes, want, rtt)
		}
	}

	// Two in flight over the same link: A and B go out together, C when
	// A is answered. B waited for A on the server; C's reply came a round
	// trip after it was sent, B's long before. None of them held the
	// server longer than its own calls.
	s = newBatchSizer("b", time.Millisecond, 0, nil)
	s.measureBase(ping)
	a, b, c := s.launch(), s.launch(), s.launch()
	aReply := t0.Add(rtt + calls(50))
	bReply := aReply.Add(calls(50))
	s.done(a, 50, t0, aReply)
	s.done(b, 50, t0, bReply)
	s.done(c, 50, aReply, aReply.Add(rtt+calls(50)))
	if s.perCall > 2*perCall {
		t.Fatalf("per call %s with two batches in flight, want about %s", s.perCall, perCall)
	}
	// A busy server makes batches smaller at once.
	for range window {
		t0 = t0.Add(time.Second)
		s.done(s.launch(), 100, t0, t0.Add(rtt+calls(100)*10))
	}
	if n := s.next(); n > 12 {
		t.Fatalf("batch of %d when each call takes %s", n, 10*perCall)
	}
}

// What a run learned carries over to the next run on the same primary,
// its network round trip included.
func TestBatchSizerLearns(t *testing.T) {
	l := NewLearnedSizes()
	s := newBatchSizer("a", time.Millisecond, 0, l)
	s.measureBase(func() (time.Duration, error) { return time.Millisecond, nil })
	t0 := time.Unix(1000, 0)
	for range 8 {
		n := s.next()
		s.done(s.launch(), n, t0, t0.Add(time.Millisecond+time.Duration(n)*10*time.Microsecond))
		t0 = t0.Add(time.Second)
	}
	again := newBatchSizer("a", time.Millisecond, 0, l)
	if again.size != s.size || again.base != s.base || again.size < 50 {
		t.Fatalf("learned size %d base %s, the last run had %d and %s", again.size, again.base, s.size, s.base)
	}
	if other := newBatchSizer("b", time.Millisecond, 0, l); other.size != 1 {
		t.Fatalf("another primary starts at %d", other.size)
	}
}

// A slow function keeps batches at one call: the round trip is measured
// apart from the calls, so the first call's cost is not taken for the
// network's.
func TestBatchSizerSlowFunction(t *testing.T) {
	s := newBatchSizer("a", time.Millisecond, 0, nil)
	s.measureBase(func() (time.Duration, error) { return 100 * time.Microsecond, nil })
	t0 := time.Unix(1000, 0)
	for range 5 {
		n := s.next()
		s.done(s.launch(), n, t0, t0.Add(100*time.Microsecond+time.Duration(n)*9*time.Millisecond))
		t0 = t0.Add(time.Second)
	}
	if st := s.snapshot(); st.Max > 1 {
		t.Fatalf("batches reached %d calls of 9ms with a 1ms budget", st.Max)
	}
}
