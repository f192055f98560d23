package promote_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/redisops"
	"go.uber.org/goleak"
)

// A one-shot run joins every goroutine it starts before Execute returns,
// also when it ends on an error: the batch sizer's round trip measure
// (two PINGs beside the first batch) among them. Replies come 200ms late,
// and the one FCALL's connection is cut, so the batch fails while those
// PINGs are still on their way: a goroutine left behind would still be
// running when Execute returns, and is found at once.
func TestRunLeavesNoGoroutine(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		ctx := context.Background()
		b := standaloneBench(t, bin)
		b.reset()
		b.seed(t, 1, fftest.Due)
		oc := b.client(t)
		// The client's own background work (its pools) is there before.
		if err := oc.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		before := goleak.IgnoreCurrent()
		run, err := promote.Plan(ctx, oc, promote.Options{Scope: scope(faultPartitions, "default")})
		if err != nil {
			t.Fatal(err)
		}
		b.faulted.SetLatency(200 * time.Millisecond)
		b.faulted.FaultFCall(fftest.FCallFault{Cut: true})
		var totals model.PromoteTotals
		err = run.Execute(ctx, totals.AddResult)
		if totals.Unconfirmed != 1 || redisops.KindOf(err) != redisops.KindUnreachable {
			t.Fatalf("totals %+v, error %v: want the cut call unconfirmed", totals, err)
		}
		// Soon: goleak waits a while for goroutines to end. A joined
		// goroutine may still be returning from its last deferred call
		// when Execute returns (it is then "runnable" at its closing
		// brace); one left behind would still wait for a PING's 200ms.
		if st, ok := vanishes("measureBase", 50*time.Millisecond); !ok {
			t.Errorf("the round trip's measure still runs 50ms after Execute returned:\n%s", st)
		}
		// The proxy's own goroutines serve the connections the pools opened.
		proxy := "github.com/flowfabric/ffdelay/internal/fftest.(*FaultProxy)."
		goleak.VerifyNone(t, before, goleak.IgnoreAnyFunction(proxy+"requests"), goleak.IgnoreAnyFunction(proxy+"replies"),
			goleak.IgnoreAnyFunction(proxy+"replies.func1"))
	})
}

// vanishes polls the goroutine stacks until no frame names fn, for at
// most within; it returns the last stacks and whether fn was gone.
func vanishes(fn string, within time.Duration) ([]byte, bool) {
	stacks := make([]byte, 1<<20)
	deadline := time.Now().Add(within)
	for {
		st := stacks[:runtime.Stack(stacks, true)]
		if !bytes.Contains(st, []byte(fn)) {
			return nil, true
		}
		if time.Now().After(deadline) {
			return st, false
		}
		time.Sleep(time.Millisecond)
	}
}
