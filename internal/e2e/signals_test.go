package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// backlogServer starts a server with the fixture library and n due
// executions spread over the partitions, with a few priorities.
func backlogServer(t *testing.T, server fftest.Binary, partitions, n int) (*fftest.Server, *redis.Client, []fftest.Exec) {
	t.Helper()
	s, c := fftest.NewFlowFabric(t, server)
	ctx := context.Background()
	if err := fftest.SetPartitions(ctx, c, partitions); err != nil {
		t.Fatal(err)
	}
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	execs := make([]fftest.Exec, n)
	for i := range execs {
		execs[i] = fftest.Exec{Partition: i % partitions, Shape: fftest.Due, Priority: i % 4}
	}
	if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
		t.Fatal(err)
	}
	return s, c, execs
}

// countSets sums ZCARD of delayed and eligible over partitions.
func countSets(t *testing.T, c *redis.Client, partitions int) (delayed, eligible int64) {
	ctx := context.Background()
	// One transaction: a snapshot, even while FCALLs move executions.
	var d, e []*redis.IntCmd
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < partitions; i++ {
			d = append(d, p.ZCard(ctx, redisops.DelayedKey(i, "default")))
			e = append(e, p.ZCard(ctx, redisops.EligibleKey(i, "default")))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range d {
		delayed += d[i].Val()
		eligible += e[i].Val()
	}
	return
}

// settledSets waits until the sets stop changing: the FCALLs a killed
// client had already sent still run after it is gone (the server reads
// its buffered commands before it sees the connection close).
func settledSets(t *testing.T, c *redis.Client, partitions int) (delayed, eligible int64) {
	delayed, eligible = countSets(t, c, partitions)
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(50 * time.Millisecond)
		d, e := countSets(t, c, partitions)
		if d == delayed && e == eligible {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sets still change 10s after the client was killed: delayed %d, eligible %d", d, e)
		}
		delayed, eligible = d, e
	}
}

// A signal in the middle of a 50k promote: the batch in flight completes,
// the partial summary is printed, the exit code is 130 or 143, and every
// execution is in exactly one set.
func TestSignalMidPromote(t *testing.T) {
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testSignalMidPromote(t, bin, server) })
}

func testSignalMidPromote(t *testing.T, bin string, server fftest.Binary) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			s, c, execs := backlogServer(t, server, 64, 50_000)
			ctx := context.Background()
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "promote", "--url", "redis://"+s.Addr, "-o", "json", "--rate", "20000")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				if _, e := countSets(t, c, 64); e > 2000 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("nothing promoted in 20s: %s", stderr.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(tc.sig)
			err := cmd.Wait()
			if got := exitCodeOf(err); got != tc.code {
				t.Fatalf("exit code %d, want %d (%v); stderr: %s", got, tc.code, err, stderr.String())
			}
			// The signal is named as on-call knows it, not "interrupt".
			if name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[tc.sig]; !strings.Contains(stderr.String(), "interrupted by "+name) {
				t.Errorf("stderr does not name %s: %s", name, stderr.String())
			}
			var doc struct {
				Totals      model.PromoteTotals `json:"totals"`
				Interrupted bool                `json:"interrupted"`
				Results     []model.Result      `json:"results"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%.300s", err, stdout.String())
			}
			delayed, eligible := countSets(t, c, 64)
			if !doc.Interrupted || doc.Totals.Promoted != eligible || int64(len(doc.Results)) != doc.Totals.Promoted {
				t.Errorf("interrupted=%v promoted=%d results=%d, but %d are eligible", doc.Interrupted, doc.Totals.Promoted, len(doc.Results), eligible)
			}
			if delayed+eligible != 50_000 || delayed == 0 {
				t.Errorf("delayed %d + eligible %d, want 50000 with some left delayed", delayed, eligible)
			}
			if err := fftest.CheckInvariant(ctx, c, execs); err != nil {
				t.Error(err)
			}
		})
	}
}

// SIGKILL at any instant leaves nothing stranded: the reads of the next
// batches are in flight with the FCALLs of this one, but an execution is
// only ever moved by its own FCALL, which the server runs whole. After each
// kill every execution is in exactly one set, and a second run promotes
// the rest.
func TestKillMidPromote(t *testing.T) {
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testKillMidPromote(t, bin, server) })
}

func testKillMidPromote(t *testing.T, bin string, server fftest.Binary) {
	for _, after := range []int64{1, 3000, 20000} {
		t.Run(fmt.Sprintf("after %d", after), func(t *testing.T) {
			const n = 30_000
			s, c, execs := backlogServer(t, server, 16, n)
			ctx := context.Background()
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "promote", "--url", "redis://"+s.Addr, "-o", "json", "--rate", "15000")
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				if _, e := countSets(t, c, 16); e >= after {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("fewer than %d promoted in 20s: %s", after, stderr.String())
				}
				time.Sleep(time.Millisecond)
			}
			cmd.Process.Kill()
			cmd.Wait()
			delayed, eligible := settledSets(t, c, 16)
			if delayed+eligible != n || delayed == 0 {
				t.Fatalf("after SIGKILL: delayed %d + eligible %d, want %d with some left delayed", delayed, eligible, n)
			}
			if err := fftest.CheckInvariant(ctx, c, execs); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "promote", "--url", "redis://"+s.Addr, "-o", "json").CombinedOutput(); err != nil {
				t.Fatalf("second run: %v\n%.500s", err, out)
			}
			if delayed, eligible := countSets(t, c, 16); delayed != 0 || eligible != n {
				t.Fatalf("after the second run: delayed %d, eligible %d", delayed, eligible)
			}
			if err := fftest.CheckInvariant(ctx, c, execs); err != nil {
				t.Fatal(err)
			}
		})
	}
}
