package redisops

import (
	"context"
	"errors"
	"time"

	"github.com/bsm/redislock"
)

// The lease lets several standby promoters run with one promoting: the
// holder's token sits in one key with a TTL. bsm/redislock does the three
// token-checked steps, each one small script on the primary that owns the
// key (never a function, never re-sent): obtain (SET NX PX, or extend a key
// that already holds this token: a holder whose renewal reply was lost
// takes its own lease again at once), refresh and release (only while the
// key still holds this token: a replica never extends or deletes a lease
// another one has taken since). They touch the lease key alone, and are
// ffdelay's only writes besides FCALL ff_promote_delayed and the repairs.

// ObtainLease takes the lease, or extends it when the key already holds
// token; false means another replica holds it.
func (c *Client) ObtainLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	addr, n, err := c.nodeForKey(ctx, key)
	if err != nil {
		return false, err
	}
	lock, err := redislock.New(n).Obtain(ctx, key, ttl, &redislock.Options{Token: token})
	if errors.Is(err, redislock.ErrNotObtained) {
		return false, nil
	}
	if err != nil {
		return false, c.wrap(addr, err)
	}
	c.leases.Store(key, lock)
	return true, nil
}

// ReleaseLease deletes the lease when the key still holds token, and
// leaves it alone when another replica holds it. A client that did not
// obtain it itself (a watch loop that switched to cluster mode made a new
// one) releases it by token: it takes the lease with token, which only
// extends it when it still holds this replica's token, and releases that.
func (c *Client) ReleaseLease(ctx context.Context, key, token string) error {
	if v, ok := c.leases.LoadAndDelete(key); ok {
		err := v.(*redislock.Lock).Release(ctx)
		if err != nil && !errors.Is(err, redislock.ErrLockNotHeld) {
			return c.wrap(c.Addr(), err)
		}
		return nil
	}
	addr, n, err := c.nodeForKey(ctx, key)
	if err != nil {
		return err
	}
	lock, err := redislock.New(n).Obtain(ctx, key, time.Second, &redislock.Options{Token: token})
	if errors.Is(err, redislock.ErrNotObtained) {
		return nil
	}
	if err != nil {
		return c.wrap(addr, err)
	}
	if err := lock.Release(ctx); err != nil && !errors.Is(err, redislock.ErrLockNotHeld) {
		return c.wrap(addr, err)
	}
	return nil
}
