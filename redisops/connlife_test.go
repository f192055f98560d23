package redisops_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/redisops"
)

// Closing a client does not PING its idle connections (go-redis checks
// them on close too): against a server that hangs, the idle check would
// hold the exit for --timeout per connection.
func TestCloseSkipsTheIdleCheck(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		ctx := context.Background()
		s, _ := fftest.NewFlowFabric(t, bin)
		oc := redisops.New(redisops.Options{Addrs: []string{s.Addr}, Timeout: 3 * time.Second})
		if err := oc.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := oc.ReadRegistry(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		stall := s.Client()
		defer stall.Close()
		done := make(chan struct{})
		go func() { defer close(done); stall.Do(ctx, "DEBUG", "SLEEP", "2") }()
		defer func() { <-done }()
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		oc.Close()
		if took := time.Since(start); took > time.Second {
			t.Errorf("Close took %s against a hung server: it PINGed its idle connections", took)
		}
	})
}
