package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// Three ffdelay processes and an engine-style promoter on one backlog: no
// failures, every execution promoted exactly once, the losers of each race
// see not_delayed_cleaned (or nothing, when the winner had already
// removed the entry before they read it).
func TestRacingPromoters(t *testing.T) {
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testRacingPromoters(t, bin, server) })
}

func testRacingPromoters(t *testing.T, bin string, server fftest.Binary) {
	s, c, execs := backlogServer(t, server, 16, 20_000)
	ctx := context.Background()
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 3)
	codes := make([]int, 3)
	for i := range outs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := exec.Command(bin, "promote", "--url", "redis://"+s.Addr, "-o", "json")
			cmd.Stdout = &outs[i]
			codes[i] = exitCodeOf(cmd.Run())
		}(i)
	}
	var engine fftest.EngineStats
	var engineErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		ec := s.Client()
		defer ec.Close()
		engine, engineErr = fftest.EnginePromoter(ctx, ec, 16, []string{"default"}, nil)
	}()
	wg.Wait()
	if engineErr != nil {
		// Without the engine in the race, ffdelay alone would promote all
		// 20,000 and the test would prove nothing about racing it.
		t.Fatalf("the engine's promoter: %v", engineErr)
	}
	if engine.Results["promoted"]+engine.Results["not_delayed_cleaned"] == 0 {
		t.Errorf("the engine's promoter took part in no race: %v", engine.Results)
	}
	var total model.PromoteTotals
	finished := false
	for i, out := range outs {
		var doc struct {
			Totals       model.PromoteTotals `json:"totals"`
			RemainingDue int64               `json:"remaining_due"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
		if codes[i] != 0 || doc.Totals.Failed != 0 {
			t.Errorf("process %d: exit %d, totals %+v", i, codes[i], doc.Totals)
		}
		// A fresh backlog has no stale entries: every race lost is an
		// execution another promoter got to first, and said so.
		if doc.Totals.Cleaned != 0 {
			t.Errorf("process %d: %d races counted as cleaned stale entries (promoted_elsewhere %d)", i, doc.Totals.Cleaned, doc.Totals.PromotedElsewhere)
		}
		finished = finished || doc.RemainingDue == 0
		total.Merge(doc.Totals)
	}
	if !finished {
		t.Error("no process ended with remaining_due 0, though nothing was due when the last one ended")
	}
	promoted := total.Promoted + int64(engine.Results["promoted"])
	if promoted != 20_000 {
		t.Errorf("promoted %d in all (ffdelay %d, engine %d), want each of 20000 once", promoted, total.Promoted, engine.Results["promoted"])
	}
	if engine.Results["failed"] != 0 {
		t.Errorf("engine saw failures: %v", engine.Results)
	}
	t.Logf("ffdelay promoted %d, engine %d; races lost: ffdelay %d (promoted elsewhere), engine %d", total.Promoted, engine.Results["promoted"],
		total.PromotedElsewhere, engine.Results["not_delayed_cleaned"])
	if err := fftest.CheckInvariant(ctx, c, execs); err != nil {
		t.Error(err)
	}
}

// A primary fails over to its replica (CLUSTER FAILOVER) while promote
// --watch runs: the loop follows the new primary and promotes what falls
// due after the failover; nothing is lost.
func TestClusterFailoverDuringWatch(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testClusterFailoverDuringWatch(t, bin, server) })
}

func testClusterFailoverDuringWatch(t *testing.T, bin string, server fftest.Binary) {
	cl, err := fftest.StartCluster(t.TempDir(), server, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Stop()
	ctx := context.Background()
	if err := cl.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	cc := cl.Client()
	defer cc.Close()
	if err := fftest.SetPartitions(ctx, cc, 16); err != nil {
		t.Fatal(err)
	}
	seed := func(n int) []fftest.Exec {
		t.Helper()
		var execs []fftest.Exec
		for i := 0; i < n; i++ {
			execs = append(execs, fftest.Exec{Partition: i % 16, Shape: fftest.Due})
		}
		master, err := cc.MasterForKey(ctx, "{fp:0}")
		if err != nil {
			t.Fatal(err)
		}
		now, err := fftest.ServerNowMs(ctx, master)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fftest.Seed(ctx, cc, now, execs); err != nil {
			t.Fatal(err)
		}
		return execs
	}
	all := seed(2000)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "promote", "--watch", "--cluster", "--url", cl.URL(), "--interval", "100ms", "--timeout", "1s", "-o", "ndjson")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitEligible(t, cc, 16, 2000)

	// Fail over the primary that owns partition 0.
	old, err := cc.MasterForKey(ctx, "{fp:0}")
	if err != nil {
		t.Fatal(err)
	}
	replica := replicaOf(t, cl, old.Options().Addr)
	// A manual failover can time out while the replica catches up; ask
	// again, and force it on the last try.
	promoted := false
	for attempt := 0; attempt < 3 && !promoted; attempt++ {
		args := []any{"CLUSTER", "FAILOVER"}
		if attempt == 2 {
			args = append(args, "FORCE")
		}
		if err := replica.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) {
			if info, _ := replica.Info(ctx, "replication").Result(); strings.Contains(info, "role:master") {
				promoted = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !promoted {
		t.Fatal("the replica did not take over after 3 CLUSTER FAILOVER attempts")
	}
	replica.Close()
	cc.ReloadState(ctx)
	all = append(all, seed(2000)...)
	waitEligible(t, cc, 16, 4000, &stdout, &stderr)
	cmd.Process.Signal(syscall.SIGINT)
	if code := exitCodeOf(cmd.Wait()); code != 0 {
		t.Errorf("watch exit code %d; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"type":"summary"`) || !strings.Contains(stdout.String(), `"promoted":4000,`) {
		t.Errorf("summary missing or wrong: %s", tail(stdout.String(), 600))
	}
	if err := fftest.CheckInvariant(ctx, cc, all); err != nil {
		t.Error(err)
	}
}

func waitEligible(t *testing.T, c redis.Cmdable, partitions int, want int64, logs ...fmt.Stringer) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	var got int64
	for time.Now().Before(deadline) {
		got = 0
		for p := 0; p < partitions; p++ {
			got += c.ZCard(ctx, redisops.EligibleKey(p, "default")).Val()
		}
		if got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	var tails []string
	for _, l := range logs {
		tails = append(tails, tail(l.String(), 2000))
	}
	t.Fatalf("%d eligible after 30s, want %d; ffdelay's output: %s", got, want, strings.Join(tails, "\n"))
}

func replicaOf(t *testing.T, cl *fftest.Cluster, primary string) *redis.Client {
	t.Helper()
	ctx := context.Background()
	for _, n := range cl.Nodes {
		c := n.Client()
		info, _ := c.Info(ctx, "replication").Result()
		host, port, _ := strings.Cut(primary, ":")
		if strings.Contains(info, "role:slave") && strings.Contains(info, "master_host:"+host) && strings.Contains(info, "master_port:"+port+"\r") {
			return c
		}
		c.Close()
	}
	t.Fatalf("no replica of %s", primary)
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// exitCodeOf is a finished command's exit code; -1 when it never ran or
// was killed by a signal, so a test comparing codes fails.
func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
