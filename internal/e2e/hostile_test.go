package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// A broken or hostile server cannot crash ffdelay or make it hold more
// than a bounded amount of memory: a reply that declares a huge length,
// nests too deep, never ends or has the wrong shape is a one-line error,
// exit 3 (a failed cycle in --watch), never a panic.
func TestHostileReplies(t *testing.T) {
	bin := buildBinary(t)
	huge := []byte("$100000000000000\r\n")
	deep := bytes.Repeat([]byte("*1\r\n"), 100_000)
	wide := []byte("*100000000000\r\n")
	for _, tc := range []struct {
		name          string
		reply, filler []byte
		wantInMessage string
	}{
		{"huge bulk length", huge, nil, "beyond ffdelay's limits"},
		{"huge array length", wide, nil, "beyond ffdelay's limits"},
		{"deep nesting", deep, nil, "beyond ffdelay's limits"},
		{"endless simple string", []byte("+"), bytes.Repeat([]byte("a"), 64<<10), "beyond ffdelay's limits"},
		{"attributes hiding nesting", append([]byte("%1\r\n+server\r\n"), append(bytes.Repeat([]byte("*1\r\n|0\r\n"), 2_000_000), "+x\r\n"...)...), nil, "beyond ffdelay's limits"},
		{"a run of attributes", append(bytes.Repeat([]byte("|0\r\n"), 2_000_000), "+x\r\n"...), nil, "beyond ffdelay's limits"},
		{"declared maps that add up", append([]byte("%1\r\n+server\r\n"), bytes.Repeat([]byte("%1048576\r\n+k\r\n"), 15)...), nil, "beyond ffdelay's limits"},
		{"declared arrays that add up", append([]byte("%1\r\n+server\r\n"), bytes.Repeat([]byte("*1048576\r\n+k\r\n"), 15)...), nil, "beyond ffdelay's limits"},
		{"a push flood", append(bytes.Repeat([]byte(">2\r\n+message\r\n+x\r\n"), 300_000), "+OK\r\n"...), nil, ""},
		{"empty arrays for everything", []byte("*0\r\n"), nil, ""},
		{"wrong types", []byte(":1\r\n"), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := fftest.StartStreamingFakeServer(tc.reply, tc.filler)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, args := range [][]string{
				{"list"}, {"promote"}, {"promote", "--dry-run"}, {"check"}, {"audit"},
				{"inspect", "{fp:1}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11"},
				{"promote", "--watch", "--max-cycles", "2", "--interval", "100ms"},
				{"promote", "--watch", "--max-cycles", "2", "--interval", "100ms", "--listen", "127.0.0.1:0"},
			} {
				var stdout, stderr bytes.Buffer
				cmd := exec.Command(bin, append(args, "--url", "redis://"+f.Addr(), "--timeout", "2s", "--partitions", "4")...)
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				start := time.Now()
				code, peak := runPeak(t, cmd)
				out := stderr.String()
				if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") || code == 2 || code == -1 {
					t.Fatalf("%v: exit %d, stderr %.500s", args, code, out)
				}
				if code == 0 {
					t.Errorf("%v: exit 0 on a hostile server; stdout %.300s stderr %.300s", args, stdout.String(), out)
				}
				if tc.wantInMessage != "" && !strings.Contains(out+stdout.String(), tc.wantInMessage) {
					t.Errorf("%v: exit %d, output does not say %q: %.300s", args, code, tc.wantInMessage, out+stdout.String())
				}
				if d := time.Since(start); d > 20*time.Second {
					t.Errorf("%v took %s", args, d)
				}
				if peak > 100<<10 {
					t.Errorf("%v: peak RSS %d KiB", args, peak)
				}
			}
		})
	}
}

// A server whose SCAN cursor never comes back to 0 cannot keep
// --discover-lanes walking forever: the walk is bounded by the keyspace.
func TestEndlessScanCursor(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	f, err := fftest.StartScriptedFakeServer(map[string]string{
		"PING":     "+PONG\r\n",
		"HGET":     "$-1\r\n",
		"SMEMBERS": "*0\r\n",
		"INFO":     "$0\r\n\r\n",
		"TIME":     "*2\r\n$10\r\n1795626506\r\n$1\r\n0\r\n",
		"FUNCTION": "*0\r\n",
		"DBSIZE":   ":1000\r\n",
		"SCAN":     "*2\r\n$2\r\n42\r\n*0\r\n",
		"ZCARD":    ":0\r\n",
		"ZCOUNT":   ":0\r\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "list", "--discover-lanes", "--partitions", "2", "--url", "redis://"+f.Addr())
	cmd.Stderr = &stderr
	done := make(chan int, 1)
	go func() { done <- exitCodeOf(cmd.Run()) }()
	select {
	case code := <-done:
		if code != 3 || !strings.Contains(stderr.String(), "SCAN did not finish after") {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("list --discover-lanes kept scanning for 30s")
	}
}

// A node that answers MOVED to another address, without --cluster, is
// never followed there: no connection (and so no credential) reaches the
// elsewhere is a listener for the address of a redirect, closed when the
// test ends, and how many connections reached it: ffdelay must make none.
func elsewhere(t *testing.T) (net.Listener, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	reached := new(atomic.Int64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	return l, reached
}

// other address, and every command says to pass --cluster, exit 3.
func TestMovedWithoutCluster(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	other, reached := elsewhere(t)
	f, err := fftest.StartScriptedFakeServer(map[string]string{
		"HELLO":  "%1\r\n+server\r\n+redis\r\n",
		"CLIENT": "+OK\r\n",
		"*":      "-MOVED 1234 " + other.Addr().String() + "\r\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, args := range [][]string{
		{"list"}, {"promote"}, {"check"}, {"audit"},
		{"inspect", "{fp:1}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11"},
		{"promote", "--watch", "--max-cycles", "2", "--interval", "100ms"},
	} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, append(args, "--url", "redis://ffuser:s3cret-pw@"+f.Addr(), "--timeout", "2s", "--partitions", "4")...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		code := exitCodeOf(cmd.Run())
		if code != 3 || !strings.Contains(stderr.String(), "pass --cluster") {
			t.Errorf("%v: exit %d, stderr %q; want exit 3 saying to pass --cluster", args, code, stderr.String())
		}
		if strings.Contains(stdout.String()+stderr.String(), "s3cret-pw") {
			t.Errorf("%v printed the password", args)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d connections reached the address of the MOVED reply", n)
	}
}

// One set with members of a megabyte each (80 MB in all, more than one
// reply may hold) is read in smaller pieces and contained to itself: every
// other partition is promoted, and the run ends with its own results.
func TestOversizedMembers(t *testing.T) {
	bin := buildBinary(t)
	s, c, now := flowFabric(t, 2)
	ctx := context.Background()
	big := strings.Repeat("x", 1<<20)
	for i := 0; i < 80; i++ {
		if err := c.ZAdd(ctx, redisops.DelayedKey(0, "default"), redis.Z{Score: float64(now - 1000), Member: fmt.Sprintf("%03d%s", i, big)}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	execs := fftest.Many(10, fftest.Exec{Partition: 1, Shape: fftest.Due})
	if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "promote", "-o", "json", "--url", "redis://"+s.Addr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitCodeOf(cmd.Run())
	var doc struct {
		Totals model.PromoteTotals `json:"totals"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("exit %d, %v; stderr %s", code, err, tail(stderr.String(), 500))
	}
	if code != 1 || doc.Totals.Promoted != 10 || doc.Totals.Failed != 80 {
		t.Errorf("exit %d, totals %+v (want the 10 promoted and the 80 oversized members failed as malformed); stderr %s", code, doc.Totals, tail(stderr.String(), 500))
	}
}

// The probe, end to end: ffdelay pointed without --cluster at a
// node whose INFO says cluster_enabled:1 and whose slot map names only
// itself works it in cluster mode; a MOVED to another address in the
// middle of its FCALLs ends the run (exit 3, the layout changed) with no
// connection to that address (its credentials would go with it), and the
// other calls of the batch keep the outcome the server gave them.
func TestAutoDetectedClusterFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) {
		ctx := context.Background()
		s, err := fftest.StartServer(t.TempDir(), fftest.ServerOptions{Binary: server, Cluster: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		c := s.Client()
		defer c.Close()
		proxy, err := fftest.StartFaultProxy(s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		_, port, _ := strings.Cut(proxy.Addr(), ":")
		for _, cmd := range [][]any{{"CLUSTER", "ADDSLOTSRANGE", 0, 16383}, {"CONFIG", "SET", "cluster-announce-port", port}} {
			if err := c.Do(ctx, cmd...).Err(); err != nil {
				t.Fatal(err)
			}
		}
		within(t, 20*time.Second, "a one-node cluster", func() bool {
			return strings.Contains(c.ClusterInfo(ctx).Val(), "cluster_state:ok")
		})
		if err := fftest.LoadLibrary(ctx, c, ""); err != nil {
			t.Fatal(err)
		}
		if err := fftest.SetPartitions(ctx, c, 4); err != nil {
			t.Fatal(err)
		}
		now, err := fftest.ServerNowMs(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		execs := fftest.Many(10, fftest.Exec{Partition: 1, Shape: fftest.Due})
		if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
			t.Fatal(err)
		}
		other, reached := elsewhere(t)
		if err := c.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		proxy.FaultFCall(fftest.FCallFault{After: 3, Reply: "MOVED 1234 " + other.Addr().String()})
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "promote", "--url", "redis://"+proxy.Addr(), "--batch-size", "10", "-o", "json")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		code := exitCodeOf(cmd.Run())
		if code != 3 || !strings.Contains(stderr.String(), "layout changed") || !strings.Contains(stderr.String(), "cluster mode") {
			t.Errorf("exit %d, stderr %q: want exit 3, a note on cluster mode, and the layout changed", code, stderr.String())
		}
		if n := reached.Load(); n != 0 {
			t.Errorf("%d connections reached the address of the MOVED reply", n)
		}
		calls := fftest.CommandCalls(c.Info(ctx, "commandstats").Val(), "fcall")
		if !proxy.FCallFaultFired() || calls != 9 || !strings.Contains(stdout.String(), `"promoted":9,`) || !strings.Contains(stdout.String(), `"not_sent":1,`) {
			t.Errorf("fault fired %v; %d FCALLs ran; stdout %s\nwant 9 promoted and the redirected one not_sent", proxy.FCallFaultFired(), calls, stdout.String())
		}
		if err := fftest.CheckInvariant(ctx, c, execs); err != nil {
			t.Error(err)
		}
	})
}
