package promote_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// repairBench is a server with three executions delayed without
// delay_until (the shape promote --repair fixes) in partition 0, and a
// client for ffdelay as user (the default user when "").
func repairBench(t *testing.T, bin fftest.Binary, user string) (admin *redis.Client, oc *redisops.Client, ids []string) {
	t.Helper()
	ctx := context.Background()
	s, c := fftest.NewFlowFabric(t, bin)
	if err := fftest.SetPartitions(ctx, c, 4); err != nil {
		t.Fatal(err)
	}
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	execs := fftest.Many(3, fftest.Exec{Partition: 0, Shape: fftest.NoDelayUntil, OffsetMs: -60_000})
	if ids, err = fftest.Seed(ctx, c, now, execs); err != nil {
		t.Fatal(err)
	}
	o := redisops.Options{Addrs: []string{s.Addr}, Timeout: 5 * time.Second}
	if user != "" {
		if err := c.Do(ctx, "ACL", "SETUSER", user, "reset", "on", ">pw", "~*", "+@all").Err(); err != nil {
			t.Fatal(err)
		}
		o.Username, o.Password = user, "pw"
	}
	oc = redisops.New(o)
	t.Cleanup(func() { oc.Close() })
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	return c, oc, ids
}

// repairRun runs promote --repair over partition 0, with beforeWrite
// asked before each write.
func repairRun(t *testing.T, oc *redisops.Client, beforeWrite func() error) ([]model.Result, error) {
	t.Helper()
	ctx := context.Background()
	run, err := promote.Plan(ctx, oc, promote.Options{Scope: scope(4, "default"), Repair: true, BeforeWrite: beforeWrite})
	if err != nil {
		t.Fatal(err)
	}
	var results []model.Result
	err = run.Execute(ctx, func(r model.Result) { results = append(results, r) })
	return results, err
}

// untouched checks that no execution got a delay_until and that the server
// ran no HSET and no FCALL: nothing was written outside a transaction.
func untouched(t *testing.T, c *redis.Client, ids []string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		du, err := c.HGet(ctx, redisops.CoreKey(0, id), "delay_until").Result()
		if err != nil || du != "" {
			t.Errorf("%s: delay_until %q (%v), want it left empty", id, du, err)
		}
	}
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"hset", "fcall"} {
		if n := fftest.CommandCalls(info, cmd); n != 0 {
			t.Errorf("the server ran %d %s", n, strings.ToUpper(cmd))
		}
	}
}

// A server at maxmemory with noeviction refuses a repair's HSET as it is
// queued (EXECABORT): nothing ran, so the repair is not_sent, not failed,
// and repairs are off for the rest of the run (the next repairable
// executions stay needs_repair, with the server's words).
func TestRepairRefusedAtMaxmemory(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		ctx := context.Background()
		c, oc, ids := repairBench(t, bin, "")
		for _, kv := range [][2]string{{"maxmemory-policy", "noeviction"}, {"maxmemory", "1"}} {
			if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
				t.Fatal(err)
			}
		}
		results, err := repairRun(t, oc, nil)
		c.ConfigSet(ctx, "maxmemory", "0")
		if err != nil {
			t.Errorf("the run stopped: %v; a refused repair turns repairs off and the run goes on", err)
		}
		checkRefusedRepairs(t, results, model.WhyRepairServerRefused, "OOM")
		untouched(t, c, ids)
	})
}

// An ACL change that takes MULTI away between the permission probe and a
// repair: MULTI goes alone and is refused, so nothing is queued behind it
// and nothing runs outside a transaction (go-redis's one write of MULTI,
// the commands and EXEC would have run HSET and the function on their
// own). The repair is not_sent and repairs are off for the run, naming
// the rule.
func TestRepairMultiRefusedMidRun(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		ctx := context.Background()
		c, oc, ids := repairBench(t, bin, "ffdelay")
		var once sync.Once
		results, err := repairRun(t, oc, func() error {
			once.Do(func() {
				if err := c.Do(ctx, "ACL", "SETUSER", "ffdelay", "-multi").Err(); err != nil {
					t.Error(err)
				}
			})
			return nil
		})
		if err != nil {
			t.Errorf("the run stopped: %v", err)
		}
		checkRefusedRepairs(t, results, model.WhyRepairRefused, "+multi")
		untouched(t, c, ids)
	})
}

// checkRefusedRepairs wants the first repair not_sent and the other two
// needs_repair, all with why and words in their detail.
func checkRefusedRepairs(t *testing.T, results []model.Result, why model.Why, words string) {
	t.Helper()
	if len(results) != 3 {
		t.Fatalf("%d results, want 3: %+v", len(results), results)
	}
	for i, r := range results {
		want := model.NeedsRepair
		if i == 0 {
			want = model.NotSent
		}
		if r.Outcome != want || r.Why != why || !strings.Contains(r.WhyDetail, words) {
			t.Errorf("result %d: %s, %s %q; want %s, %s naming %q", i, r.Outcome, r.Why, r.WhyDetail, want, why, words)
		}
	}
}

// The function refused part-way inside a repair's EXEC (ZADD taken away
// from the user after the probe): the transaction ran and delay_until is
// written, so this is not "nothing written": the result is failed, and the
// run stops at once with the partial-write error that points at audit
// --repair, before any other repair.
func TestRepairPartialWriteStops(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		ctx := context.Background()
		c, oc, _ := repairBench(t, bin, "ffdelay")
		var once sync.Once
		results, err := repairRun(t, oc, func() error {
			once.Do(func() {
				if err := c.Do(ctx, "ACL", "SETUSER", "ffdelay", "-zadd").Err(); err != nil {
					t.Error(err)
				}
			})
			return nil
		})
		if redisops.KindOf(err) != redisops.KindPartialWrite || !strings.Contains(err.Error(), "audit --repair") {
			t.Errorf("error %v: want the partial-write stop", err)
		}
		if len(results) != 1 || results[0].Outcome != model.Failed {
			t.Fatalf("results %+v: want one failed, then the stop", results)
		}
	})
}
