package watch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// LeaseStore is where the lease lives (redisops, on the server FlowFabric
// uses). ObtainLease takes the lease, or extends it when it already holds
// token; false means another replica holds it. ReleaseLease gives it up
// while it still holds token.
type LeaseStore interface {
	ObtainLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, key, token string) error
}

// releasedOnShutdown is why a clean stop gave the lease up: not a loss.
const releasedOnShutdown = "released on shutdown"

// ErrLeaseLost stops a cycle before its next write: this replica no longer
// holds the lease (or cannot tell that it still does).
var ErrLeaseLost = errors.New("the lease was lost: another replica promotes now")

// Clock reads the two clocks a lease is judged on. The monotonic one does
// not advance while a host or VM is suspended (Linux's CLOCK_MONOTONIC);
// the wall clock does, and may also be set back: a lease counts as held
// only while both say it is.
type Clock interface {
	// Mono is monotonic time since an arbitrary start.
	Mono() time.Duration
	// Wall is the wall clock, without a monotonic reading.
	Wall() time.Time
	// AfterFunc calls f after d of monotonic time; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// systemClock is the process's clocks.
type systemClock struct{ start time.Time }

// SystemClock is the process's own monotonic and wall clocks.
func SystemClock() Clock { return systemClock{start: time.Now()} }

func (c systemClock) Mono() time.Duration { return time.Since(c.start) }
func (systemClock) Wall() time.Time       { return time.Now().Round(0) }
func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Lease is leader election among standby replicas: only the holder
// promotes. The holder renews every TTL/3 (obtaining again with its own
// token: a renewal whose reply was lost is made good by the next one). It
// counts itself the holder only until TTL minus its margin after the start
// of its last successful renewal, on both clocks, and the margin holds
// --timeout (a write sent at the last moment may still run on the server
// that much later) plus a tenth of the TTL for the clocks' drift. Every
// write asks Check just before it is sent, and the cycle's writes run
// under a context that loss cancels at once (WriteContext).
type Lease struct {
	Key   string
	Token string
	TTL   time.Duration
	// Timeout is --timeout: how long after it is sent a write may still
	// run on the server.
	Timeout time.Duration
	Store   func() LeaseStore
	Clock   Clock
	// OnChange is told each change of leadership and why, from whichever
	// goroutine saw it (it must be safe for that: metrics are).
	OnChange func(held bool, why string)

	mu        sync.Mutex
	held      bool
	untilMono time.Duration
	untilWall time.Time
	stopLapse func() bool
	// writers are the cancel functions of the contexts handed out by
	// WriteContext: loss cancels them all.
	writers map[int]context.CancelCauseFunc
	nextID  int
	// changes wait for the loop to log them: the renewing goroutine never
	// writes to the output itself.
	changes []leaseChange
	// elsewhere: the last answer from the server was another replica's
	// token in the key.
	elsewhere bool
}

type leaseChange struct {
	held bool
	why  string
}

// CheckTTL says whether a lease of ttl can be honoured with timeout: the
// holder stops writing timeout plus a tenth of ttl before its lease ends,
// and must still renew (every third of ttl) before it stops. Twice the
// timeout leaves room for both.
func CheckTTL(ttl, timeout time.Duration) error {
	if ttl < 2*timeout {
		return fmt.Errorf("--lease-ttl %s cannot be honoured with --timeout %s: a write may still run on the server up to --timeout after it is sent, so the holder stops writing --timeout (and a tenth of the TTL) before its lease ends, and it renews every third of the TTL; use a --lease-ttl of at least %s, or a shorter --timeout", ttl, timeout, 2*timeout)
	}
	return nil
}

// margin is how much earlier than the TTL a holder stops counting on its
// lease.
func (l *Lease) margin() time.Duration { return l.Timeout + l.TTL/10 }

// drain returns the changes since the last call.
func (l *Lease) drain() []leaseChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.changes
	l.changes = nil
	return out
}

// Check is nil while this replica holds a fresh lease, on both clocks. A
// write is sent only right after it said so.
func (l *Lease) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkLocked()
}

func (l *Lease) checkLocked() error {
	if !l.held {
		return ErrLeaseLost
	}
	if l.Clock.Mono() >= l.untilMono || !l.Clock.Wall().Before(l.untilWall) {
		l.setLocked(false, "the lease was not renewed in time (paused, suspended, or the server unreachable)")
		return ErrLeaseLost
	}
	return nil
}

// heldElsewhere reports that the server last said another replica holds
// the lease.
func (l *Lease) heldElsewhere() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.elsewhere
}

// Held reports whether this replica is the leader now.
func (l *Lease) Held() bool { return l.Check() == nil }

// WriteContext is ctx, cancelled with ErrLeaseLost as its cause the moment
// the lease is lost or lapses; release it with the returned function.
func (l *Lease) WriteContext(ctx context.Context) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.checkLocked() != nil {
		cancel(ErrLeaseLost)
		return wctx, func() {}
	}
	if l.writers == nil {
		l.writers = map[int]context.CancelCauseFunc{}
	}
	id := l.nextID
	l.nextID++
	l.writers[id] = cancel
	return wctx, func() {
		l.mu.Lock()
		delete(l.writers, id)
		l.mu.Unlock()
		cancel(nil)
	}
}

func (l *Lease) setLocked(held bool, why string) {
	if l.held == held {
		return
	}
	l.held = held
	if !held {
		for _, cancel := range l.writers {
			cancel(ErrLeaseLost)
		}
		if l.stopLapse != nil {
			l.stopLapse()
			l.stopLapse = nil
		}
	}
	l.changes = append(l.changes, leaseChange{held, why})
	if l.OnChange != nil {
		l.OnChange(held, why)
	}
}

// take obtains or renews the lease. An error leaves a held lease counting
// down to its deadline; another replica's token ends it at once.
func (l *Lease) take(ctx context.Context) error {
	startMono, startWall := l.Clock.Mono(), l.Clock.Wall()
	ok, err := l.Store().ObtainLease(ctx, l.Key, l.Token, l.TTL)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		l.checkLocked()
		return err
	case !ok:
		l.elsewhere = true
		l.setLocked(false, "another replica holds "+l.Key)
		return nil
	}
	l.elsewhere = false
	valid := l.TTL - l.margin()
	untilMono, untilWall := startMono+valid, startWall.Add(valid)
	if l.Clock.Mono() >= untilMono || !l.Clock.Wall().Before(untilWall) {
		// The answer came too late to count on (a paused process, a slow
		// link): a held lease lapses now; the next renewal may do better.
		l.checkLocked()
		return nil
	}
	l.untilMono, l.untilWall = untilMono, untilWall
	l.setLocked(true, "acquired "+l.Key)
	// Loss by lapse cancels the writers at once, not at the next write.
	if l.stopLapse != nil {
		l.stopLapse()
	}
	l.stopLapse = l.Clock.AfterFunc(l.untilMono-l.Clock.Mono(), func() { l.Check() })
	return nil
}

// keep renews every TTL/3 until ctx is done.
func (l *Lease) keep(ctx context.Context, every <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-every:
			rctx, cancel := context.WithTimeout(ctx, l.TTL/3)
			l.mu.Lock()
			held := l.held
			l.mu.Unlock()
			if held {
				l.take(rctx)
			}
			cancel()
		}
	}
}

// release gives a held lease up at once (a clean shutdown), so another
// replica takes over without waiting for the TTL.
func (l *Lease) release(timeout time.Duration) error {
	l.mu.Lock()
	held := l.held
	l.setLocked(false, releasedOnShutdown)
	l.mu.Unlock()
	if !held {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := l.Store().ReleaseLease(ctx, l.Key, l.Token); err != nil {
		return fmt.Errorf("releasing %s: %w", l.Key, err)
	}
	return nil
}
