package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
)

// replica is one standby process of a lease test.
type replica struct {
	name   string
	cmd    *exec.Cmd
	probe  standbyProbe
	stderr *bytes.Buffer
}

func (r *replica) promoted() float64 {
	return max(0, r.probe.metric("ffdelay_promotions_total", map[string]string{"outcome": "promoted"}))
}

func (r *replica) leader() float64 { return r.probe.metric("ffdelay_leader", nil) }

// Two standbys with --lease: one promotes; SIGKILL it and the other takes
// over within about a TTL; a third joins as a follower; SIGSTOP the leader
// past the TTL and the follower takes over, and once woken the old leader
// promotes nothing; SIGTERM releases the lease at once.
func TestLeaseTwoStandbys(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testLeaseTwoStandbys(t, bin, server) })
}

func testLeaseTwoStandbys(t *testing.T, bin string, server fftest.Binary) {
	const ttl = 4 * time.Second
	const leaseKey = "ffdelay:lease:two-standbys"
	s, c := fftest.NewFlowFabric(t, server)
	ctx := context.Background()
	if err := fftest.SetPartitions(ctx, c, 4); err != nil {
		t.Fatal(err)
	}
	seeded := 0
	seed := func(n int) {
		t.Helper()
		now, err := fftest.ServerNowMs(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		execs := make([]fftest.Exec, n)
		for i := range execs {
			execs[i] = fftest.Exec{Partition: i % 4, Shape: fftest.Due}
		}
		if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
			t.Fatal(err)
		}
		seeded += n
		within(t, 15*time.Second, fmt.Sprintf("%d eligible", seeded), func() bool {
			_, eligible := countSets(t, c, 4)
			return eligible == int64(seeded)
		})
	}
	start := func(name string) *replica {
		t.Helper()
		port, err := fftest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{name: name, probe: standbyProbe{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port)}, stderr: &bytes.Buffer{}}
		r.cmd = exec.Command(bin, "promote", "--watch", "--lease", "--lease-key", leaseKey, "--lease-ttl", ttl.String(), "--interval", "100ms",
			"--timeout", "1s", "--url", "redis://"+s.Addr, "--listen", r.probe.addr, "--quiet")
		r.cmd.Stderr = r.stderr
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.cmd.Process.Signal(syscall.SIGCONT); r.cmd.Process.Kill(); r.cmd.Wait() })
		within(t, 10*time.Second, name+" serving", func() bool { return r.leader() >= 0 })
		return r
	}
	a, b := start("a"), start("b")
	within(t, 10*time.Second, "one leader", func() bool { return a.leader()+b.leader() == 1 })
	leader, follower := a, b
	if b.leader() == 1 {
		leader, follower = b, a
	}
	seed(20)
	// The counters move when the cycle ends, a moment after the sets do.
	within(t, 5*time.Second, "the leader's 20 promotions counted", func() bool { return leader.promoted() == 20 })
	if got := follower.promoted(); got != 0 {
		t.Errorf("the follower promoted %v", got)
	}
	if code, _ := follower.probe.get("/readyz"); code != 200 {
		t.Errorf("the follower is not ready (%d): followers stay ready", code)
	}

	// The leader dies: the follower takes over within about a TTL.
	firstDone := leader.promoted()
	leader.cmd.Process.Kill()
	leader.cmd.Wait()
	killed := time.Now()
	within(t, ttl+3*time.Second, "takeover after SIGKILL", func() bool { return follower.leader() == 1 })
	t.Logf("takeover after SIGKILL in %s (ttl %s)", time.Since(killed).Round(10*time.Millisecond), ttl)
	leader = follower
	seed(10)
	within(t, 5*time.Second, "the new leader's 10 promotions counted", func() bool { return leader.promoted() == 10 })

	// A third replica joins as a follower; the leader is paused past the
	// TTL: the follower takes over, and the woken one writes nothing.
	third := start("c")
	// Once it has run a few cycles (each one contends for the lease), it
	// must still be a follower.
	cycles := func() float64 { return third.probe.metric("ffdelay_cycle_duration_seconds", nil) }
	within(t, 10*time.Second, "the joining replica's first cycles", func() bool { return cycles() >= 3 })
	if third.leader() != 0 {
		t.Fatalf("a joining replica took the lease from a live leader")
	}
	pausedPromoted := leader.promoted()
	leader.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	within(t, ttl+3*time.Second, "takeover after SIGSTOP", func() bool { return third.leader() == 1 })
	t.Logf("takeover after SIGSTOP in %s", time.Since(stopped).Round(10*time.Millisecond))
	seed(10)
	within(t, 5*time.Second, "the third replica's 10 promotions counted", func() bool { return third.promoted() == 10 })
	leader.cmd.Process.Signal(syscall.SIGCONT)
	within(t, 5*time.Second, "the woken replica follows", func() bool { return leader.leader() == 0 })
	seed(10)
	within(t, 5*time.Second, "the third replica's 20 promotions counted", func() bool { return third.promoted() == 20 })
	if got := leader.promoted(); got != pausedPromoted {
		t.Errorf("the replica that lost the lease while paused promoted %v after it (had %v)", got-pausedPromoted, pausedPromoted)
	}
	if got := third.promoted(); got != 20 {
		t.Errorf("the third replica promoted %v of 20", got)
	}
	if total := firstDone + pausedPromoted + third.promoted(); int(total) != seeded {
		t.Errorf("promoted %v in all, seeded %d", total, seeded)
	}

	// A clean SIGTERM hands the lease over at once: by the time the
	// process has exited, the key no longer holds its token (it did just
	// before), and the other replica takes it at its next cycle.
	if holder := c.Get(ctx, leaseKey).Val(); !strings.Contains(holder, fmt.Sprintf(":%d:", third.cmd.Process.Pid)) {
		t.Fatalf("the lease key holds %q, not the leader's token", holder)
	}
	third.cmd.Process.Signal(syscall.SIGTERM)
	termed := time.Now()
	if code := exitCodeOf(third.cmd.Wait()); code != 0 {
		t.Errorf("SIGTERM: exit %d; stderr %s", code, third.stderr.String())
	}
	if holder := c.Get(ctx, leaseKey).Val(); strings.Contains(holder, fmt.Sprintf(":%d:", third.cmd.Process.Pid)) {
		t.Errorf("the stopped replica did not release the lease (the key still holds %q)", holder)
	}
	within(t, 2*ttl, "takeover after SIGTERM", func() bool { return leader.leader() == 1 })
	t.Logf("takeover after SIGTERM in %s", time.Since(termed).Round(10*time.Millisecond))
	if v := third.probe.metric("ffdelay_lease_transitions_total", nil); v != -1 {
		t.Errorf("the stopped replica still serves metrics")
	}
	if v := leader.probe.metric("ffdelay_lease_transitions_total", nil); v < 3 {
		t.Errorf("ffdelay_lease_transitions_total = %v on a replica that led, lost and led again", v)
	}
}
