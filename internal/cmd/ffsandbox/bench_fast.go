//go:build ffsandbox

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// pingEvery is how often the other client of the "fast" case sends PING: a
// worker with work of its own between commands.
const pingEvery = 2 * time.Millisecond

// firstRound are the arguments that reproduce the first round's fixed
// batches with today's binary.
var firstRound = []string{"--batch-size", "64"}

// benchFast is issue 19's table: for 100k due over 256 partitions, on one
// server and on a 3-primary cluster, the engine's algorithm, the first
// round's fixed batches and today's defaults side by side, each run while
// another client PINGs every 2 ms, with the server's own time in
// ff_promote_delayed during that same run; ffdelay's CPU per execution;
// the same backlog in a single delayed set.
func benchFast(cfg benchConfig, emit func(benchRow)) error {
	lanes := lanesN(1)
	s, c, reseed, stop, err := reseedableServer(cfg, lanes)
	if err != nil {
		return err
	}
	defer stop()
	name := fmt.Sprintf("%s due over %d partitions", count(cfg.large), cfg.partitons)

	if err := reseed(cfg.partitons); err != nil {
		return err
	}
	engineWall, est, lats, err := engineRun(c, cfg.partitons, lanes, nil, pingEvery, s.Addr)
	if err != nil {
		return err
	}
	lat := lats[0]
	_, eusec := fcallUsec(c)
	efloor := time.Duration(eusec) * time.Microsecond
	emit(benchRow{name: name + ": the engine's algorithm", ffdelay: engineWall.Round(time.Millisecond).String(),
		baseline: fmt.Sprintf("floor %s (%d cycles)", efloor.Round(time.Millisecond), est.Cycles),
		ratio:    fmt.Sprintf("%.2fx floor", float64(engineWall)/float64(efloor)), ping: pct(lat), rss: "-", ok: true})

	var standalone time.Duration
	for _, v := range []struct {
		name string
		args []string
	}{{"first round (fixed batches of 64)", firstRound}, {"today's defaults", nil}} {
		if err := reseed(cfg.partitons); err != nil {
			return err
		}
		pg := startPingerEvery(pingEvery, s.Addr)
		cpu0 := serverCPU(c)
		r, err := runToDevNull(cfg.bin, append([]string{"promote", "--url", "redis://" + s.Addr, "-o", "json"}, v.args...)...)
		busy := serverCPU(c) - cpu0
		lat := pg.Stop()[0]
		if err != nil {
			return err
		}
		_, usec := fcallUsec(c)
		floor := time.Duration(usec) * time.Microsecond
		ratio, speedup := float64(r.wall)/float64(floor), float64(engineWall)/float64(r.wall)
		row := benchRow{name: name + ": " + v.name, ffdelay: r.wall.Round(time.Millisecond).String(),
			baseline: fmt.Sprintf("floor %s; server busy %.0f%% of the run; %s", floor.Round(time.Millisecond), 100*busy.Seconds()/r.wall.Seconds(), cpuPer(r, cfg.large)),
			ratio:    fmt.Sprintf("%.2fx floor, %.1fx faster than the engine", ratio, speedup), ping: pct(lat), rss: mb(r.rssKB)}
		if v.args == nil {
			standalone = r.wall
			row.target = "<= 1.15x floor, >= 4x faster, p99 <= 2ms, <= 5us CPU/exec"
			row.ok = ratio <= 1.15 && speedup >= 4 && p99(lat) <= 2*time.Millisecond && r.cpu <= time.Duration(cfg.large)*5*time.Microsecond
		}
		emit(row)
	}

	// The same backlog in a single delayed set.
	if err := reseed(1); err != nil {
		return err
	}
	pg := startPingerEvery(pingEvery, s.Addr)
	cpu0 := serverCPU(c)
	r, err := runToDevNull(cfg.bin, "promote", "--url", "redis://"+s.Addr, "-o", "json")
	busy := serverCPU(c) - cpu0
	lat = pg.Stop()[0]
	if err != nil {
		return err
	}
	_, usec := fcallUsec(c)
	floor := time.Duration(usec) * time.Microsecond
	ratio := float64(r.wall) / float64(floor)
	emit(benchRow{name: fmt.Sprintf("%s due in one delayed set: today's defaults", count(cfg.large)), ffdelay: r.wall.Round(time.Millisecond).String(),
		baseline: fmt.Sprintf("floor %s; server busy %.0f%% of the run; %s", floor.Round(time.Millisecond), 100*busy.Seconds()/r.wall.Seconds(), cpuPer(r, cfg.large)), ratio: fmt.Sprintf("%.2fx floor", ratio),
		ping: pct(lat), rss: mb(r.rssKB), target: "<= 1.15x floor", ok: ratio <= 1.15})

	cl, cc, stopCluster, err := startCluster()
	if err != nil {
		return err
	}
	defer stopCluster()
	creseed := clusterReseed(cl, cc, cfg, lanes)
	// The engine's algorithm on the cluster: each partition's clock from
	// the primary that owns it.
	if err := creseed(); err != nil {
		return err
	}
	nodes := map[int]redis.Cmdable{}
	for p := 0; p < cfg.partitons; p++ {
		n, err := cc.MasterForKey(context.Background(), redisops.DelayedKey(p, lanes[0]))
		if err != nil {
			return err
		}
		nodes[p] = n
	}
	clusterEngine, est, lats, err := engineRun(cc, cfg.partitons, lanes, func(p int) redis.Cmdable { return nodes[p] }, pingEvery, cl.Seeds()...)
	if err != nil {
		return err
	}
	worst, _ := worstPrimary(lats)
	emit(benchRow{name: "3-primary cluster, " + name + ": the engine's algorithm", ffdelay: clusterEngine.Round(time.Millisecond).String(),
		baseline: fmt.Sprintf("%d cycles", est.Cycles), ratio: "-", ping: pct(worst) + " (worst primary)", rss: "-", ok: true})
	for _, v := range []struct {
		name string
		args []string
	}{{"first round (fixed batches of 64)", firstRound}, {"today's defaults", nil}} {
		if err := creseed(); err != nil {
			return err
		}
		pg := startPingerEvery(pingEvery, cl.Seeds()...)
		r, err := runToDevNull(cfg.bin, append([]string{"promote", "--cluster", "--url", cl.URL(), "-o", "json"}, v.args...)...)
		worst, worstP99 := worstPrimary(pg.Stop())
		if err != nil {
			return err
		}
		busiest, _ := primaryFloors(cl)
		row := benchRow{name: "3-primary cluster, " + name + ": " + v.name, ffdelay: r.wall.Round(time.Millisecond).String(),
			baseline: fmt.Sprintf("busiest primary's floor %s; %s", busiest.Round(time.Millisecond), cpuPer(r, cfg.large)),
			ratio:    fmt.Sprintf("%.2fx standalone default's speed, %.1fx faster than the engine", float64(standalone)/float64(r.wall), float64(clusterEngine)/float64(r.wall)),
			ping:     pct(worst) + " (worst primary)", rss: mb(r.rssKB)}
		if v.args == nil {
			row.target, row.ok = "no slower than standalone, worst p99 <= 5ms", r.wall <= standalone && worstP99 <= 5*time.Millisecond
		}
		emit(row)
	}
	return nil
}

// serverCPU is the server's own CPU time so far (INFO cpu, user and
// system): beside the wall time, how busy the server was.
func serverCPU(c redis.Cmdable) time.Duration {
	info, _ := c.Info(context.Background(), "cpu").Result()
	var total float64
	for _, line := range strings.Split(info, "\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

// cpuPer is a run's own CPU time per execution.
func cpuPer(r runResult, n int) string {
	return fmt.Sprintf("CPU %.1fus/exec", float64(r.cpu.Microseconds())/float64(n))
}

// benchRoundTrips counts the serial round trips of list, an idle promote
// and check: each runs through a proxy that delays every reply by 2 ms and
// then by 12 ms (best of 3 each), and the slope of its time over the 10 ms
// between is the number of round trips it waits for in series. The
// proxy's own count (client writes that follow a reply, over all
// connections) is shown beside it.
func benchRoundTrips(cfg benchConfig, emit func(benchRow)) error {
	lanes := lanesN(4)
	s, _, stop, err := backlogServer(cfg, 1000, cfg.partitons, lanes, fftest.Future)
	if err != nil {
		return err
	}
	defer stop()
	proxy, err := fftest.StartFaultProxy(s.Addr)
	if err != nil {
		return err
	}
	defer proxy.Close()
	for _, tc := range []struct {
		args []string
		max  int
	}{{[]string{"list"}, 3}, {[]string{"promote"}, 4}, {[]string{"check"}, 6}} {
		var walls [2]time.Duration
		var counted int64
		for i, lat := range []time.Duration{2 * time.Millisecond, 12 * time.Millisecond} {
			proxy.SetLatency(lat)
			for try := 0; try < 3; try++ {
				before := proxy.RoundTrips()
				r, err := runFFDelay(cfg.bin, append(tc.args, "--url", "redis://"+proxy.Addr(), "-o", "json")...)
				if err != nil && r.code != 2 {
					return err
				}
				if try == 0 || r.wall < walls[i] {
					walls[i] = r.wall
				}
				counted = proxy.RoundTrips() - before
			}
		}
		serial := float64(walls[1]-walls[0]) / float64(10*time.Millisecond)
		emit(benchRow{name: fmt.Sprintf("round trips: idle %s, %d partitions x %d lanes", tc.args[0], cfg.partitons, len(lanes)),
			ffdelay:  fmt.Sprintf("%s at +2ms, %s at +12ms", walls[0].Round(100*time.Microsecond), walls[1].Round(100*time.Microsecond)),
			baseline: fmt.Sprintf("%d round trips counted on all connections", counted), ratio: fmt.Sprintf("%.1f serial round trips", serial),
			ping: "-", rss: "-", target: fmt.Sprintf("<= %d serial", tc.max), ok: serial <= float64(tc.max)+0.5})
	}
	return nil
}
