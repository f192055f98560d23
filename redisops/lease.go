package redisops

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// The lease lets several standby promoters run with one promoting: the
// holder's token sits in one key with a TTL. Renewing and releasing compare
// the token first, in one script, so a replica never extends or deletes a
// lease another one has taken since (a fencing check). These scripts and
// SET NX are ffdelay's only writes besides FCALL ff_promote_delayed and the
// repairs; they touch the lease key alone.
var (
	renewLease = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
	releaseLease = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
)

// AcquireLease takes the lease when nobody holds it (SET NX PX).
func (c *Client) AcquireLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	addr, n, err := c.nodeForKey(ctx, key)
	if err != nil {
		return false, err
	}
	ok, err := n.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return false, c.wrap(addr, err)
	}
	return ok, nil
}

// RenewLease extends the lease when it is still ours; false means another
// replica holds it, or nobody does.
func (c *Client) RenewLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	addr, node, err := c.nodeForKey(ctx, key)
	if err != nil {
		return false, err
	}
	n, err := renewLease.Run(ctx, node, []string{key}, token, ttl.Milliseconds()).Int64()
	if err != nil {
		return false, c.wrap(addr, err)
	}
	return n == 1, nil
}

// ReleaseLease deletes the lease when it is still ours.
func (c *Client) ReleaseLease(ctx context.Context, key, token string) error {
	addr, n, err := c.nodeForKey(ctx, key)
	if err != nil {
		return err
	}
	_, err = releaseLease.Run(ctx, n, []string{key}, token).Result()
	if err != nil && !errNil(err) {
		return c.wrap(addr, err)
	}
	return nil
}

// LeaseHolder is the token in the lease key ("" when nobody holds it).
func (c *Client) LeaseHolder(ctx context.Context, key string) (string, error) {
	addr, n, err := c.nodeForKey(ctx, key)
	if err != nil {
		return "", err
	}
	v, err := n.Get(ctx, key).Result()
	if errNil(err) {
		return "", nil
	}
	if err != nil {
		return "", c.wrap(addr, err)
	}
	return v, nil
}
