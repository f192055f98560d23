package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// A busy worker moves executions between their delayed and eligible sets
// all the time, each move atomic (core and sets in one MULTI/EXEC, as a
// FlowFabric function is). Read-only audits racing it must report nothing:
// what looks wrong between audit's two reads is read again atomically.
func TestAuditUnderBusyWorker(t *testing.T) {
	bin := buildBinary(t)
	s, c, now := flowFabric(t, 1)
	ctx := context.Background()
	execs := make([]fftest.Exec, 200)
	for i := range execs {
		execs[i] = fftest.Exec{Partition: 0, Shape: fftest.Future}
	}
	ids, err := fftest.Seed(ctx, c, now, execs)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		delayed, eligible := redisops.DelayedKey(0, "default"), redisops.EligibleKey(0, "default")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := ids[i%len(ids)]
			core := redisops.CoreKey(0, id)
			toEligible := (i/len(ids))%2 == 0
			c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				if toEligible {
					p.HSet(ctx, core, "eligibility_state", "eligible_now", "delay_until", "")
					p.ZRem(ctx, delayed, id)
					p.ZAdd(ctx, eligible, redis.Z{Score: 1, Member: id})
				} else {
					p.HSet(ctx, core, "eligibility_state", "not_eligible_until_time", "delay_until", now+3_600_000)
					p.ZRem(ctx, eligible, id)
					p.ZAdd(ctx, delayed, redis.Z{Score: float64(now + 3_600_000), Member: id})
				}
				return nil
			})
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	falseAlarms := 0
	for run := 0; run < 30; run++ {
		var stdout bytes.Buffer
		cmd := exec.Command(bin, "audit", "-o", "json", "--url", "redis://"+s.Addr)
		cmd.Stdout = &stdout
		code := exitCodeOf(cmd.Run())
		var doc struct {
			Totals model.AuditTotals `json:"totals"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
			t.Fatalf("run %d: exit %d, %v: %s", run, code, err, stdout.String())
		}
		if code != 0 || doc.Totals.Remaining() > 0 {
			falseAlarms++
			t.Logf("run %d: exit %d, totals %+v", run, code, doc.Totals)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if falseAlarms > 0 {
		t.Errorf("%d of 30 read-only audits reported problems that never were", falseAlarms)
	}
}
