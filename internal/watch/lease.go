package watch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// LeaseStore is where the lease lives (redisops on the server FlowFabric
// uses).
type LeaseStore interface {
	AcquireLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	RenewLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, key, token string) error
	LeaseHolder(ctx context.Context, key string) (string, error)
}

// ErrLeaseLost stops a cycle before its next write: this replica no longer
// holds the lease (or cannot tell that it still does).
var ErrLeaseLost = errors.New("the lease was lost: another replica promotes now")

// Lease is leader election among standby replicas: only the holder
// promotes. The holder renews every TTL/3 with a fencing check (renew
// only while the key still holds our token); it counts itself the holder
// only until TTL minus a margin after the start of its last successful
// renewal, measured on the monotonic clock, so a replica that was paused
// (SIGSTOP, a long GC, a VM freeze) past the TTL finds its lease stale
// before its next write, whatever the server did meanwhile.
type Lease struct {
	Key   string
	Token string
	TTL   time.Duration
	Store func() LeaseStore
	// OnChange is told each change of leadership and why, from whichever
	// goroutine saw it (it must be safe for that: metrics are).
	OnChange func(held bool, why string)

	mu         sync.Mutex
	held       bool
	validUntil time.Time
	// changes wait for the loop to log them: the renewing goroutine never
	// writes to the output itself.
	changes []leaseChange
}

type leaseChange struct {
	held bool
	why  string
}

// drain returns the changes since the last call.
func (l *Lease) drain() []leaseChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.changes
	l.changes = nil
	return out
}

// margin is how much earlier than the TTL a holder stops counting on its
// lease: the renewal's own round trip and clock drift fit in it.
func (l *Lease) margin() time.Duration { return l.TTL / 5 }

// Check is nil while this replica holds a fresh lease.
func (l *Lease) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		return ErrLeaseLost
	}
	if time.Now().After(l.validUntil) {
		l.setLocked(false, "the lease was not renewed in time (paused, or the server unreachable)")
		return ErrLeaseLost
	}
	return nil
}

// Held reports whether this replica is the leader now.
func (l *Lease) Held() bool { return l.Check() == nil }

func (l *Lease) setLocked(held bool, why string) {
	if l.held == held {
		return
	}
	l.held = held
	l.changes = append(l.changes, leaseChange{held, why})
	if l.OnChange != nil {
		l.OnChange(held, why)
	}
}

// acquire tries to take the lease when this replica does not hold it.
func (l *Lease) acquire(ctx context.Context) error {
	if l.Held() {
		return nil
	}
	start := time.Now()
	ok, err := l.Store().AcquireLease(ctx, l.Key, l.Token, l.TTL)
	if err != nil || !ok {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.validUntil = start.Add(l.TTL - l.margin())
	l.setLocked(true, "acquired "+l.Key)
	return nil
}

// renew extends a held lease; a lease another replica took is lost at
// once, one that cannot be renewed (server gone) lapses on its own.
func (l *Lease) renew(ctx context.Context) {
	l.mu.Lock()
	held := l.held
	l.mu.Unlock()
	if !held {
		return
	}
	start := time.Now()
	ok, err := l.Store().RenewLease(ctx, l.Key, l.Token, l.TTL)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		// Keep counting on it until it lapses: Check sees the deadline.
	case !ok:
		l.setLocked(false, "another replica holds "+l.Key)
	default:
		l.validUntil = start.Add(l.TTL - l.margin())
	}
}

// keep renews every TTL/3 until ctx is done.
func (l *Lease) keep(ctx context.Context) {
	t := time.NewTicker(l.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, l.TTL/3)
			l.renew(rctx)
			cancel()
		}
	}
}

// release gives a held lease up at once (a clean shutdown), so another
// replica takes over without waiting for the TTL.
func (l *Lease) release(timeout time.Duration) error {
	l.mu.Lock()
	held := l.held
	l.setLocked(false, "released on shutdown")
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
