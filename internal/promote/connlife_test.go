package promote_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

// setupFaults are the ways a connection's set-up fails before any command
// of ffdelay's is written: the server (or a proxy) closes on HELLO, refuses
// HELLO and AUTH (a rotated password, an ACL change, a server loading its
// data), never answers, or resets the connection.
var setupFaults = []struct {
	name  string
	fault fftest.ConnFault
	kind  redisops.Kind
	words string
}{
	{"closes on HELLO", fftest.ConnFault{CloseOnFirst: true}, redisops.KindUnreachable, "cannot reach"},
	{"WRONGPASS to HELLO and AUTH", fftest.ConnFault{SetupReply: "WRONGPASS invalid username-password pair or user is disabled."}, redisops.KindAuth, "authentication refused"},
	{"NOPERM to HELLO and AUTH", fftest.ConnFault{SetupReply: "NOPERM this user has no permissions to run the 'hello' command"}, redisops.KindNoPerm, "permission denied"},
	{"LOADING to HELLO and AUTH", fftest.ConnFault{SetupReply: "LOADING Redis is loading the dataset in memory"}, redisops.KindUnreachable, "LOADING"},
	{"never answers", fftest.ConnFault{Stall: true}, redisops.KindUnreachable, "cannot reach"},
	{"resets", fftest.ConnFault{Reset: true}, redisops.KindUnreachable, "cannot reach"},
}

// A batch whose connection cannot be set up was never written: every item
// is not_sent (never failed, never unconfirmed), the error keeps the set-up
// failure's own kind and words, and the server ran no FCALL (its own
// commandstats). Once the fault is gone the same client promotes them all.
// On a single server and on each node of a 3-primary cluster.
func TestSetupFailureIsNotSent(t *testing.T) { fftest.EachServer(t, testSetupFailureIsNotSent) }

func testSetupFailureIsNotSent(t *testing.T, bin fftest.Binary) {
	for _, topo := range []struct {
		name  string
		bench func(*testing.T, fftest.Binary) *faultBench
	}{{"standalone", standaloneBench}, {"cluster", clusterBench}} {
		t.Run(topo.name, func(t *testing.T) {
			b := topo.bench(t, bin)
			for _, tc := range setupFaults {
				t.Run(tc.name, func(t *testing.T) {
					b.reset()
					execs := b.seed(t, 8, fftest.Due)
					b.resetStats(t)
					// A password, so that a refused HELLO is retried as AUTH
					// and its refusal fails the set-up (the servers' default
					// user takes any).
					oc := redisops.New(redisops.Options{Addrs: b.seeds, Cluster: b.cluster, Password: "secret", Timeout: 500 * time.Millisecond})
					defer oc.Close()
					sh := faultedShard(t, b, oc)
					items := promoteItems(t, execs)

					b.faulted.SetConnFault(&tc.fault)
					b.faulted.Cut()
					replies, err := oc.PromoteBatch(context.Background(), sh, items)
					b.faulted.SetConnFault(nil)
					if len(replies) != len(items) {
						t.Fatalf("%d replies for %d items (err %v)", len(replies), len(items), err)
					}
					for i, r := range replies {
						if r.Outcome != model.NotSent {
							t.Errorf("item %d: %s (%s), want not_sent", i, r.Outcome, r.Detail)
						}
					}
					if got := redisops.KindOf(err); got != tc.kind {
						t.Errorf("error %v: kind %d, want %d", err, got, tc.kind)
					}
					if redisops.FateOf(err) != redisops.NotRun {
						t.Errorf("error %v: its fate is not NotRun", err)
					}
					if err == nil || !strings.Contains(err.Error(), tc.words) {
						t.Errorf("error %v: want it to say %q", err, tc.words)
					}
					if n := b.fcalls(t); n != 0 {
						t.Errorf("the server ran %d FCALLs for a batch that was never written", n)
					}

					// A second batch, on new connections, promotes them all.
					replies, err = oc.PromoteBatch(context.Background(), sh, items)
					if err != nil {
						t.Fatalf("after the fault: %v", err)
					}
					for i, r := range replies {
						if r.Outcome != model.Promoted {
							t.Errorf("after the fault, item %d: %s (%s)", i, r.Outcome, r.Detail)
						}
					}
					if n := b.fcalls(t); n != int64(len(items)) {
						t.Errorf("the server ran %d FCALLs for %d executions", n, len(items))
					}
				})
			}
		})
	}
}

// A TLS handshake that stalls or is reset wrote nothing: the batch is
// not_sent, not unconfirmed.
func TestTLSHandshakeFailureIsNotSent(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		ctx := context.Background()
		files, err := fftest.GenerateTLS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		srv, err := fftest.StartServer(t.TempDir(), fftest.ServerOptions{Binary: bin, TLS: files})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		direct, err := fftest.TLSClient(srv.Addr, files)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { direct.Close() })
		if err := fftest.LoadLibrary(ctx, direct, ""); err != nil {
			t.Fatal(err)
		}
		proxy, err := fftest.StartFaultProxy(srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(proxy.Close)
		pem, err := os.ReadFile(files.CA)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		for _, tc := range []struct {
			name  string
			fault fftest.ConnFault
		}{{"stalled", fftest.ConnFault{Stall: true}}, {"reset", fftest.ConnFault{Reset: true}}} {
			t.Run(tc.name, func(t *testing.T) {
				if err := direct.FlushAll(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				now, err := fftest.ServerNowMs(ctx, direct)
				if err != nil {
					t.Fatal(err)
				}
				execs := fftest.Many(5, fftest.Exec{Partition: 0, Shape: fftest.Due})
				if _, err := fftest.Seed(ctx, direct, now, execs); err != nil {
					t.Fatal(err)
				}
				direct.ConfigResetStat(ctx)
				oc := redisops.New(redisops.Options{Addrs: []string{proxy.Addr()}, TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
					Timeout: 500 * time.Millisecond})
				defer oc.Close()
				shards, err := oc.Shards(ctx, []int{0})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := oc.ReadClocks(ctx, shards, nil); err != nil {
					t.Fatal(err)
				}
				proxy.SetConnFault(&tc.fault)
				proxy.Cut()
				replies, err := oc.PromoteBatch(ctx, shards[0], promoteItems(t, execs))
				proxy.SetConnFault(nil)
				for i, r := range replies {
					if r.Outcome != model.NotSent {
						t.Errorf("item %d: %s (%s), want not_sent", i, r.Outcome, r.Detail)
					}
				}
				if redisops.FateOf(err) != redisops.NotRun || redisops.KindOf(err) != redisops.KindUnreachable {
					t.Errorf("error %v: want an unreachable server, not run", err)
				}
				info, _ := direct.Info(ctx, "commandstats").Result()
				if n := fftest.CommandCalls(info, "fcall"); n != 0 {
					t.Errorf("the server ran %d FCALLs", n)
				}
			})
		}
	})
}

// A standby's write gate (its lease) is asked with the connection in hand:
// a dial and set-up slower than the lease's margin cannot carry an FCALL
// past the lease's deadline. The batch is held back, unsent and unreported.
func TestWriteGateAfterSlowSetup(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		b := standaloneBench(t, bin)
		b.reset()
		execs := b.seed(t, 8, fftest.Due)
		b.resetStats(t)
		oc := b.client(t)
		sh := faultedShard(t, b, oc)
		errLost := errors.New("the lease was lost")
		deadline := time.Now().Add(300 * time.Millisecond)
		oc.SetWriteGate(func() error {
			if time.Now().After(deadline) {
				return errLost
			}
			return nil
		})
		// Every new connection takes a second to come up.
		b.faulted.SetConnFault(&fftest.ConnFault{Delay: time.Second})
		b.faulted.Cut()
		replies, err := oc.PromoteBatch(context.Background(), sh, promoteItems(t, execs))
		b.faulted.SetConnFault(nil)
		if !errors.Is(err, errLost) {
			t.Errorf("error %v: want the gate's own", err)
		}
		if len(replies) != 0 {
			t.Errorf("%d results for a batch the gate held back: want none", len(replies))
		}
		if n := b.fcalls(t); n != 0 {
			t.Errorf("the server ran %d FCALLs after the gate's deadline", n)
		}
	})
}

// faultedShard is the shard of the faulted primary, its clock read.
func faultedShard(t *testing.T, b *faultBench, oc *redisops.Client) *redisops.Shard {
	t.Helper()
	ctx := context.Background()
	shards, err := oc.Shards(ctx, b.parts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc.ReadClocks(ctx, shards, nil); err != nil {
		t.Fatal(err)
	}
	if len(shards) != 1 || (b.cluster && shards[0].Addr() != b.faulted.Addr()) {
		t.Fatalf("the bench's partitions are on %d primaries", len(shards))
	}
	return shards[0]
}

func promoteItems(t *testing.T, execs []fftest.Exec) []redisops.PromoteItem {
	t.Helper()
	items := make([]redisops.PromoteItem, len(execs))
	for i, e := range execs {
		id, err := model.ParseExecutionID(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		items[i] = redisops.PromoteItem{ID: id, Lane: "default"}
	}
	return items
}
