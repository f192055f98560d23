package redisops_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/redisops"
)

// A client that did not obtain the lease (a watch loop that switched to
// cluster mode made a new one) still releases it by its token, and never
// releases another replica's.
func TestReleaseLeaseByToken(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		ctx := context.Background()
		s, c := fftest.NewFlowFabric(t, bin)
		const key = "ffdelay:lease:test"
		opts := redisops.Options{Addrs: []string{s.Addr}, Timeout: time.Second}
		first := redisops.New(opts)
		defer first.Close()
		if ok, err := first.ObtainLease(ctx, key, "replica-a", 10*time.Second); !ok || err != nil {
			t.Fatalf("obtain: %v %v", ok, err)
		}
		second := redisops.New(opts)
		defer second.Close()
		if err := second.ReleaseLease(ctx, key, "replica-b"); err != nil {
			t.Fatal(err)
		}
		if v, _ := c.Get(ctx, key).Result(); v != "replica-a" {
			t.Fatalf("another token released replica-a's lease: the key holds %q", v)
		}
		if err := second.ReleaseLease(ctx, key, "replica-a"); err != nil {
			t.Fatal(err)
		}
		if n, _ := c.Exists(ctx, key).Result(); n != 0 {
			t.Errorf("the lease is still there after its holder's token released it")
		}
	})
}
