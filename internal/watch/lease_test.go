package watch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
	"go.uber.org/goleak"
)

// fakeClock is a monotonic and a wall clock moved by hand, apart when a
// test wants them apart (a suspended VM: wall time passes, monotonic does
// not). Its timers follow the monotonic one.
type fakeClock struct {
	mu     sync.Mutex
	mono   time.Duration
	wall   time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Duration
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{wall: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Mono() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

func (c *fakeClock) Wall() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.mono + d, f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// advance moves both clocks by d (mono by d only when monoToo) and fires
// the timers that fell due.
func (c *fakeClock) advance(d time.Duration, monoToo bool) {
	c.mu.Lock()
	c.wall = c.wall.Add(d)
	if monoToo {
		c.mono += d
	}
	var due []func()
	for _, t := range c.timers {
		if !t.stopped && t.at <= c.mono {
			t.stopped = true
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// fakeStore is a lease key on a server whose time is the fake clock's
// monotonic one. during runs inside a call (a slow renewal moves the clock);
// loseReply applies a call and then reports its reply lost.
type fakeStore struct {
	mu        sync.Mutex
	clock     *fakeClock
	holder    string
	expires   time.Duration
	calls     int
	during    func()
	loseReply bool
	released  bool
}

func (s *fakeStore) ObtainLease(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	if s.during != nil {
		s.during()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	now := s.clock.Mono()
	if s.holder != "" && now >= s.expires {
		s.holder = ""
	}
	ok := s.holder == "" || s.holder == token
	if ok {
		s.holder, s.expires = token, now+ttl
	}
	if s.loseReply {
		return false, errors.New("read tcp: i/o timeout")
	}
	return ok, nil
}

func (s *fakeStore) ReleaseLease(context.Context, string, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holder, s.released = "", true
	return nil
}

// setHolder makes another replica the holder until the key expires.
func (s *fakeStore) setHolder(token string, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holder, s.expires = token, s.clock.Mono()+ttl
}

const (
	testTTL     = 10 * time.Second
	testTimeout = 2 * time.Second
)

func newTestLease() (*Lease, *fakeStore, *fakeClock) {
	clock := newFakeClock()
	store := &fakeStore{clock: clock}
	l := &Lease{Key: "ffdelay:lease:test", Token: "me", TTL: testTTL, Timeout: testTimeout,
		Store: func() LeaseStore { return store }, Clock: clock}
	return l, store, clock
}

func mustTake(t *testing.T, l *Lease) {
	t.Helper()
	if err := l.take(context.Background()); err != nil || !l.Held() {
		t.Fatalf("take: %v, held %v", err, l.Held())
	}
}

// The holder stops counting on the lease --timeout plus a tenth of the TTL
// before the server lets it expire: a write it sends last still lands
// before another replica can hold the key.
func TestLeaseStopsWritingBeforeTheServerLetsGo(t *testing.T) {
	l, store, clock := newTestLease()
	mustTake(t, l)
	window := testTTL - testTimeout - testTTL/10
	clock.advance(window-time.Millisecond, true)
	if err := l.Check(); err != nil {
		t.Fatalf("just inside the window: %v", err)
	}
	clock.advance(time.Millisecond, true)
	if err := l.Check(); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("at the end of the window: %v, want ErrLeaseLost", err)
	}
	// A write sent at the last moment may still run --timeout later: the
	// server still holds the key for this replica then.
	if left := store.expires - clock.Mono(); left < testTimeout {
		t.Fatalf("the server's key expires %s after the last write, less than --timeout", left)
	}
}

// A renewal applied on the server whose reply was lost: the holder keeps
// counting on its old deadline, and the next renewal (its own token in the
// key) takes it again at once, without waiting for the key to expire.
func TestLeaseRenewalReplyLost(t *testing.T) {
	l, store, clock := newTestLease()
	mustTake(t, l)
	clock.advance(testTTL/3, true)
	store.loseReply = true
	if err := l.take(context.Background()); err == nil {
		t.Fatal("a lost reply reported no error")
	}
	if !l.Held() {
		t.Fatal("a lost renewal reply dropped a lease whose deadline has not passed")
	}
	// Past the old deadline: no longer counted on.
	clock.advance(testTTL/2, true)
	if l.Held() {
		t.Fatal("still held past the deadline of the last renewal that answered")
	}
	store.loseReply = false
	mustTake(t, l)
	if store.holder != "me" {
		t.Fatalf("holder %q", store.holder)
	}
}

// A renewal whose answer comes after the window it would open has closed
// (a paused process, a slow link) is not counted on.
func TestLeaseSlowRenewal(t *testing.T) {
	l, store, clock := newTestLease()
	mustTake(t, l)
	store.during = func() { clock.advance(testTTL, true) }
	l.take(context.Background())
	if l.Held() {
		t.Fatal("a renewal answered after its own window counted as held")
	}
	store.during = nil
	mustTake(t, l)
}

// A suspended host: the wall clock jumps, the monotonic one does not. The
// lease is lost on the wall clock, and the writers are cancelled.
func TestLeaseWallClockJump(t *testing.T) {
	l, _, clock := newTestLease()
	mustTake(t, l)
	ctx, done := l.WriteContext(context.Background())
	defer done()
	clock.advance(testTTL, false)
	if err := l.Check(); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("after a wall clock jump of a TTL: %v, want ErrLeaseLost", err)
	}
	if !errors.Is(context.Cause(ctx), ErrLeaseLost) {
		t.Fatalf("the cycle's writes were not cancelled: %v", context.Cause(ctx))
	}
}

// Another replica holds the key: the renewal ends the lease at once and
// cancels the writes in flight; a lapse cancels them when it happens, not
// at the next write.
func TestLeaseLossCancelsWrites(t *testing.T) {
	l, store, clock := newTestLease()
	mustTake(t, l)
	ctx, done := l.WriteContext(context.Background())
	store.setHolder("other", testTTL)
	l.take(context.Background())
	if l.Held() || !errors.Is(context.Cause(ctx), ErrLeaseLost) {
		t.Fatalf("held %v, cause %v after another replica took the key", l.Held(), context.Cause(ctx))
	}
	done()
	if changes := l.drain(); len(changes) != 2 || changes[1].held {
		t.Fatalf("changes %+v, want acquired then lost", changes)
	}

	clock.advance(testTTL, true)
	mustTake(t, l)
	ctx, done = l.WriteContext(context.Background())
	defer done()
	clock.advance(testTTL, true)
	if !errors.Is(context.Cause(ctx), ErrLeaseLost) {
		t.Fatalf("a lapse did not cancel the writes: %v", context.Cause(ctx))
	}
	if w, _ := l.WriteContext(context.Background()); w.Err() == nil {
		t.Fatal("a write context handed out without the lease")
	}
}

func TestCheckTTL(t *testing.T) {
	if err := CheckTTL(10*time.Second, 5*time.Second); err != nil {
		t.Errorf("the defaults: %v", err)
	}
	if err := CheckTTL(9*time.Second, 5*time.Second); err == nil {
		t.Error("a TTL below twice the timeout was accepted")
	}
}

// keep renews on every tick while held, and stops when told.
func TestLeaseKeepRenews(t *testing.T) {
	l, store, clock := newTestLease()
	mustTake(t, l)
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.keep(ctx, ticks) }()
	for i := 0; i < 5; i++ {
		clock.advance(testTTL/3, true)
		ticks <- time.Time{}
	}
	cancel()
	<-done
	if !l.Held() || store.calls != 6 {
		t.Fatalf("held %v after %d calls, want held after 6", l.Held(), store.calls)
	}
}

// Run joins every goroutine it started (the renewals, the readiness probe,
// the endpoint) before it returns, and releases the lease after the last
// renewal.
func TestServiceJoinsItsGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, store, _ := newTestLease()
	l.Clock = SystemClock()
	store.clock = newFakeClock()
	var mu sync.Mutex
	cycles := 0
	s := &Service{
		Options: Options{Interval: 10 * time.Millisecond, MaxCycles: 5, Timeout: time.Second, Listen: "127.0.0.1:0"},
		Cycle: func(ctx context.Context, in CycleInput) (CycleResult, error) {
			mu.Lock()
			cycles++
			mu.Unlock()
			if in.Promote {
				if err := in.BeforeWrite(); err != nil {
					return CycleResult{}, err
				}
				in.Each(model.Result{Outcome: model.Promoted, ExecutionID: "x"})
			}
			return CycleResult{}, nil
		},
		Probe:     func(context.Context) error { return nil },
		Permanent: func(error) bool { return false },
		Printer:   output.Discard(),
		Lease:     l,
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cycles != 5 || !store.released || l.Held() {
		t.Fatalf("%d cycles, released %v, held %v", cycles, store.released, l.Held())
	}
}
