package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/redis/go-redis/v9"
)

// Two standbys with --lease, each through a proxy of its own, while due
// executions keep arriving: the leader's replies are held back past its
// lease's margin, then whoever leads is paused past the TTL and woken. At
// the moment each FCALL reaches the server, the server's lease key must
// hold the token of the replica that sent it (the proxy asks the server
// just before it forwards the call); every execution is promoted, by
// exactly one FCALL (INFO commandstats); and ffdelay_leader summed over
// the replicas is never 2 in any scrape, taken every 200ms.
func TestLeaseNeverWritesLate(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testLeaseNeverWritesLate(t, bin, server) })
}

func testLeaseNeverWritesLate(t *testing.T, bin string, server fftest.Binary) {
	const (
		ttl        = 3 * time.Second
		timeout    = time.Second
		partitions = 4
		key        = "ffdelay:lease:fence-test"
	)
	s, c := fftest.NewFlowFabric(t, server)
	ctx := context.Background()
	if err := fftest.SetPartitions(ctx, c, partitions); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	look := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer look.Close()
	var mu sync.Mutex
	var late []string
	checked := 0

	type fenced struct {
		*replica
		proxy *fftest.FaultProxy
		pid   atomic.Int64
	}
	start := func(name string) *fenced {
		t.Helper()
		proxy, err := fftest.StartFaultProxy(s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(proxy.Close)
		port, err := fftest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		r := &fenced{replica: &replica{name: name, probe: standbyProbe{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port)}, stderr: &bytes.Buffer{}}, proxy: proxy}
		proxy.OnCommand(func(cmd, arg string) {
			if cmd != "fcall" || !strings.EqualFold(arg, "ff_promote_delayed") {
				return
			}
			holder, err := look.Get(ctx, key).Result()
			mu.Lock()
			defer mu.Unlock()
			checked++
			if own := fmt.Sprintf("%s:%d:", host, r.pid.Load()); err != nil || !strings.HasPrefix(holder, own) {
				late = append(late, fmt.Sprintf("%s sent an FCALL at %s while the lease key held %q (%v)", name, time.Now().Format("15:04:05.000"), holder, err))
			}
		})
		r.cmd = exec.Command(bin, "promote", "--watch", "--lease", "--lease-key", key, "--lease-ttl", ttl.String(),
			"--timeout", timeout.String(), "--interval", "100ms", "--url", "redis://"+proxy.Addr(), "--listen", r.probe.addr, "--quiet")
		r.cmd.Stderr = r.stderr
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r.pid.Store(int64(r.cmd.Process.Pid))
		t.Cleanup(func() { r.cmd.Process.Signal(syscall.SIGCONT); r.cmd.Process.Kill(); r.cmd.Wait() })
		within(t, 10*time.Second, name+" serving", func() bool { return r.leader() >= 0 })
		return r
	}
	a, b := start("a"), start("b")
	replicas := []*fenced{a, b}
	// Nothing is due yet: every FCALL from here on is counted.
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	leaderNow := func() *fenced {
		for _, r := range replicas {
			if r.leader() == 1 {
				return r
			}
		}
		return nil
	}

	// Scrapes every 200ms; a replica that does not answer (paused) is left
	// out of that scrape.
	stopScrapes := make(chan struct{})
	scrapesDone := make(chan struct{})
	var scrapes, twoLeaders atomic.Int64
	go func() {
		defer close(scrapesDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopScrapes:
				return
			case <-tick.C:
			}
			sum := 0.0
			for _, r := range replicas {
				sum += max(0, r.leader())
			}
			scrapes.Add(1)
			if sum >= 2 {
				twoLeaders.Add(1)
			}
		}
	}()

	// Due executions keep arriving while the faults come and go.
	stopSeeding := make(chan struct{})
	seedingDone := make(chan struct{})
	var seeded atomic.Int64
	go func() {
		defer close(seedingDone)
		for {
			select {
			case <-stopSeeding:
				return
			case <-time.After(250 * time.Millisecond):
			}
			now, err := fftest.ServerNowMs(ctx, c)
			if err != nil {
				t.Error(err)
				return
			}
			execs := make([]fftest.Exec, 10)
			for i := range execs {
				execs[i] = fftest.Exec{Partition: rand.IntN(partitions), Shape: fftest.Due}
			}
			if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
				t.Error(err)
				return
			}
			seeded.Add(int64(len(execs)))
		}
	}()

	var first *fenced
	within(t, 10*time.Second, "a leader", func() bool { first = leaderNow(); return first != nil })
	time.Sleep(time.Second)

	// The leader's replies come 2s late, past its margin (--timeout plus a
	// tenth of the TTL): it must stop writing, though its renewals still
	// reach the server.
	first.proxy.SetLatency(2 * time.Second)
	time.Sleep(5 * time.Second)
	first.proxy.SetLatency(0)

	// Whoever leads now is paused past the TTL, and woken.
	var paused *fenced
	within(t, 3*ttl, "a leader after the slow link", func() bool { paused = leaderNow(); return paused != nil })
	paused.cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(ttl + 1500*time.Millisecond)
	paused.cmd.Process.Signal(syscall.SIGCONT)
	time.Sleep(2 * time.Second)

	close(stopSeeding)
	<-seedingDone
	want := seeded.Load()
	// Everything seeded is promoted in the end.
	within(t, 30*time.Second, fmt.Sprintf("all %d eligible", want), func() bool {
		_, eligible := countSets(t, c, partitions)
		return eligible == want
	})
	close(stopScrapes)
	<-scrapesDone

	mu.Lock()
	defer mu.Unlock()
	for _, l := range late {
		t.Error(l)
	}
	if checked == 0 {
		t.Fatal("the proxies saw no FCALL")
	}
	calls := fftest.CommandCalls(c.Info(ctx, "commandstats").Val(), "fcall")
	if calls != want {
		t.Errorf("%d FCALLs for %d executions: each must run once", calls, want)
	}
	if twoLeaders.Load() > 0 {
		t.Errorf("ffdelay_leader summed to 2 in %d of %d scrapes", twoLeaders.Load(), scrapes.Load())
	}
	t.Logf("%d executions, %d FCALLs checked at the proxies, %d scrapes", want, checked, scrapes.Load())
}
