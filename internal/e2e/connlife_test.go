package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/redis/go-redis/v9"
)

// The connection's own life: a server that closes idle connections
// (`timeout 1`, as a proxy or load balancer with an idle timeout does) must
// never make a watch loop write on a connection it closed. Five bursts of
// due executions, 3 s of idleness between them (every connection but the
// ones the loop reads on is closed by the server meanwhile): zero
// unconfirmed, zero not_sent, zero failed cycles, and every execution
// promoted by exactly one FCALL (the servers' own commandstats). On a
// single server and on a 3-primary cluster.
func TestWatchIdleTimeout(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) {
		t.Run("standalone", func(t *testing.T) {
			t.Parallel()
			s, c := ffServer(t, server, 16)
			testWatchIdleTimeout(t, bin, []*redis.Client{c}, c, "--url", "redis://"+s.Addr)
		})
		t.Run("cluster", func(t *testing.T) {
			t.Parallel()
			cl, cc := ffCluster(t, server, 16)
			var primaries []*redis.Client
			for _, n := range cl.Nodes {
				c := n.Client()
				defer c.Close()
				primaries = append(primaries, c)
			}
			testWatchIdleTimeout(t, bin, primaries, cc, "--cluster", "--url", cl.URL())
		})
	})
}

func testWatchIdleTimeout(t *testing.T, bin string, primaries []*redis.Client, c redis.Cmdable, conn ...string) {
	ctx := context.Background()
	const partitions, bursts, perBurst = 16, 5, 200
	for _, p := range primaries {
		if err := p.ConfigSet(ctx, "timeout", "1").Err(); err != nil {
			t.Fatal(err)
		}
		if err := p.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"promote", "--watch", "--interval", "300ms", "-o", "ndjson"}, conn...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for b := 0; b < bursts; b++ {
		seedDue(t, c, partitions, perBurst)
		waitEligible(t, c, partitions, int64((b+1)*perBurst), &stderr)
		// Idle: only the loop's reads run, on a connection or two; the
		// servers close the others after a second.
		time.Sleep(3 * time.Second)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCodeOf(cmd.Wait()); code != 0 {
		t.Errorf("exit %d after SIGTERM; stderr %s", code, stderr.String())
	}
	cycles := readCycles(t, stdout.Bytes())
	var promoted, unconfirmed, notSent int64
	for _, cy := range cycles {
		promoted += cy.Totals.Promoted
		unconfirmed += cy.Totals.Unconfirmed
		notSent += cy.Totals.NotSent
		if cy.Error != "" {
			t.Errorf("cycle %d failed: %s", cy.Cycle, cy.Error)
		}
	}
	if unconfirmed != 0 || notSent != 0 {
		t.Errorf("unconfirmed %d, not_sent %d across the idle gaps: want 0 and 0", unconfirmed, notSent)
	}
	if want := int64(bursts * perBurst); promoted != want {
		t.Errorf("promoted %d, want %d", promoted, want)
	}
	var fcalls int64
	for _, p := range primaries {
		info, err := p.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		fcalls += fftest.CommandCalls(info, "fcall")
	}
	if fcalls != bursts*perBurst {
		t.Errorf("the servers ran %d FCALLs for %d executions: want exactly one each", fcalls, bursts*perBurst)
	}
	if strings.Contains(stderr.String(), "cannot reach") {
		t.Errorf("stderr reports a lost server:\n%s", stderr.String())
	}
}

// seedDue seeds n executions due now over the partitions.
func seedDue(t *testing.T, c redis.Cmdable, partitions, n int) {
	t.Helper()
	execs := make([]fftest.Exec, n)
	for i := range execs {
		execs[i] = fftest.Exec{Partition: i % partitions, Shape: fftest.Due}
	}
	seedNow(t, c, execs...)
}

// watchCycle is one ndjson cycle line of promote --watch.
type watchCycle struct {
	Type   string `json:"type"`
	Cycle  int    `json:"cycle"`
	Error  string `json:"error"`
	Totals struct {
		Promoted    int64 `json:"promoted"`
		Unconfirmed int64 `json:"unconfirmed"`
		NotSent     int64 `json:"not_sent"`
		Failed      int64 `json:"failed"`
	} `json:"totals"`
	Failures []struct {
		ExecutionID string `json:"execution_id"`
		Outcome     string `json:"outcome"`
		Error       string `json:"error"`
	} `json:"failures"`
}

// readCycles parses the cycle lines of an ndjson watch output.
func readCycles(t *testing.T, out []byte) []watchCycle {
	t.Helper()
	var cycles []watchCycle
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var cy watchCycle
		if err := json.Unmarshal(sc.Bytes(), &cy); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		if cy.Type == "cycle" {
			cycles = append(cycles, cy)
		}
	}
	return cycles
}

// The ACL password rotated under a running watch loop. The server closes
// idle connections (timeout 1), so after 3 s of quiet only the one the
// loop reads on every cycle is left; a burst of 5,000 due executions
// needs more (pipelines in flight beside the reads), and the old password
// no longer opens them: a batch meeting that is not_sent, never failed or
// unconfirmed (nothing of it was written), the loop stops with exit 3 and
// "authentication refused", every execution it says it promoted was
// promoted (the server's FCALL count), and a run with the new password
// promotes the rest: nothing is lost.
func TestPasswordRotatedUnderWatch(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testPasswordRotated(t, bin, server) })
}

func testPasswordRotated(t *testing.T, bin string, server fftest.Binary) {
	const partitions, first, second = 16, 200, 5000
	s, c := ffServer(t, server, partitions)
	ctx := context.Background()
	if err := c.Do(ctx, "ACL", "SETUSER", "ffdelay", "reset", "on", ">old", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "timeout", "1").Err(); err != nil {
		t.Fatal(err)
	}
	c.ConfigResetStat(ctx)
	url := "redis://ffdelay@" + s.Addr
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "promote", "--watch", "--interval", "300ms", "-o", "ndjson", "--url", url)
	cmd.Env = append(os.Environ(), "FFDELAY_PASSWORD=old")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	seedDue(t, c, partitions, first)
	waitEligible(t, c, partitions, first, &stderr)
	if err := c.Do(ctx, "ACL", "SETUSER", "ffdelay", "resetpass", ">new").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	seedDue(t, c, partitions, second)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitCodeOf(err); code != 3 {
			t.Errorf("exit %d, want 3; stderr %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the loop did not stop within 20s of the rotation; stderr %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "authentication refused") {
		t.Errorf("stderr does not say authentication refused:\n%s", stderr.String())
	}
	var promoted, notSent int64
	for _, cy := range readCycles(t, stdout.Bytes()) {
		promoted += cy.Totals.Promoted
		notSent += cy.Totals.NotSent
		if cy.Totals.Unconfirmed != 0 || cy.Totals.Failed != 0 {
			t.Errorf("cycle %d: %d unconfirmed, %d failed after the rotation: want none", cy.Cycle, cy.Totals.Unconfirmed, cy.Totals.Failed)
		}
		for _, f := range cy.Failures {
			if f.Outcome != "not_sent" {
				t.Errorf("cycle %d: %s %s (%s)", cy.Cycle, f.ExecutionID, f.Outcome, f.Error)
			}
		}
	}
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if n := fftest.CommandCalls(info, "fcall"); n != promoted {
		t.Errorf("the loop reported %d promoted, the server ran %d FCALLs", promoted, n)
	}
	// Which request meets the refusal first is a race: a batch (then it
	// is not_sent, as in 19 of 20 runs under load) or one of the loop's
	// reads (then the loop stops before any batch: right too). That a
	// batch refused at set-up is not_sent is held exactly by
	// TestSetupFailureIsNotSent.
	t.Logf("before the stop: %d promoted, %d not_sent", promoted, notSent)

	again := exec.Command(bin, "promote", "-o", "json", "--url", url)
	again.Env = append(os.Environ(), "FFDELAY_PASSWORD=new")
	if out, err := again.CombinedOutput(); err != nil {
		t.Fatalf("promote with the new password: %v\n%s", err, out)
	}
	waitEligible(t, c, partitions, first+second, &stderr)
	info, _ = c.Info(ctx, "commandstats").Result()
	if n := fftest.CommandCalls(info, "fcall"); n != first+second {
		t.Errorf("the server ran %d FCALLs for %d executions", n, first+second)
	}
}
