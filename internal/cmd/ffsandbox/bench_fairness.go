//go:build ffsandbox

package main

import (
	"fmt"
	"time"
)

// stallVariants are the settings the fairness table compares.
var stallVariants = []struct {
	name string
	args []string
}{
	{"fixed batches of 64 (the first round's default)", []string{"--batch-size", "64"}},
	{"--max-stall 0.5ms", []string{"--max-stall", "500us"}},
	{"--max-stall 1ms (the default)", nil},
	{"--max-stall 2ms", []string{"--max-stall", "2ms"}},
}

// benchFairness is the trade-off between speed and other clients'
// latency: wall time against the server's own time in ff_promote_delayed,
// and a PING loop's p50/p99/max, for the engine's algorithm, fixed batches
// of 64 and the --max-stall budget at 0.5, 1 and 2 ms; standalone and in a
// 3-primary cluster, each backlog seeded afresh.
func benchFairness(cfg benchConfig, emit func(benchRow)) error {
	lanes := lanesN(1)
	s, c, reseed, stop, err := reseedableServer(cfg, lanes)
	if err != nil {
		return err
	}
	defer stop()
	var standaloneDefault time.Duration
	for _, v := range stallVariants {
		if err := reseed(cfg.partitons); err != nil {
			return err
		}
		pg := startPinger(s.Addr)
		r, err := runToDevNull(cfg.bin, append([]string{"promote", "--url", "redis://" + s.Addr, "-o", "json"}, v.args...)...)
		lat := pg.Stop()[0]
		if err != nil {
			return err
		}
		_, usec := fcallUsec(c)
		floor := time.Duration(usec) * time.Microsecond
		ratio := float64(r.wall) / float64(floor)
		row := benchRow{name: fmt.Sprintf("fairness, %s due over %d partitions: %s", count(cfg.large), cfg.partitons, v.name),
			ffdelay: r.wall.Round(time.Millisecond).String(), baseline: "floor " + floor.Round(time.Millisecond).String(),
			ratio: fmt.Sprintf("%.2fx floor", ratio), ping: pct(lat), rss: mb(r.rssKB)}
		if v.args == nil {
			standaloneDefault = r.wall
			row.target, row.ok = "<= 1.15x floor, PING p99 <= 1.5ms", ratio <= 1.15 && p99(lat) <= 1500*time.Microsecond
		}
		emit(row)
	}
	if err := reseed(cfg.partitons); err != nil {
		return err
	}
	ew, est, lats, err := engineRun(c, cfg.partitons, lanes, nil, 0, s.Addr)
	if err != nil {
		return err
	}
	lat := lats[0]
	_, eusec := fcallUsec(c)
	efloor := time.Duration(eusec) * time.Microsecond
	speedup := float64(ew) / float64(standaloneDefault)
	emit(benchRow{name: "fairness: the engine's algorithm, same backlog", ffdelay: "-",
		baseline: fmt.Sprintf("%s (%d cycles, floor %s)", ew.Round(time.Millisecond), est.Cycles, efloor.Round(time.Millisecond)),
		ratio:    fmt.Sprintf("%.2fx floor; the default is %.1fx faster", float64(ew)/float64(efloor), speedup), ping: pct(lat), rss: "-",
		target: "default >= 4x faster", ok: speedup >= 4})

	cl, cc, stopCluster, err := startCluster()
	if err != nil {
		return err
	}
	defer stopCluster()
	creseed := clusterReseed(cl, cc, cfg, lanes)
	for _, v := range stallVariants {
		if err := creseed(); err != nil {
			return err
		}
		pg := startPinger(cl.Seeds()...)
		r, err := runToDevNull(cfg.bin, append([]string{"promote", "--cluster", "--url", cl.URL(), "-o", "json"}, v.args...)...)
		worst, worstP99 := worstPrimary(pg.Stop())
		if err != nil {
			return err
		}
		busiest, _ := primaryFloors(cl)
		row := benchRow{name: "fairness, 3-primary cluster: " + v.name, ffdelay: r.wall.Round(time.Millisecond).String(),
			baseline: fmt.Sprintf("busiest primary's floor %s; standalone default %s", busiest.Round(time.Millisecond), standaloneDefault.Round(time.Millisecond)),
			ratio:    fmt.Sprintf("%.2fx standalone speed", float64(standaloneDefault)/float64(r.wall)), ping: pct(worst) + " (worst primary)", rss: mb(r.rssKB)}
		if v.args == nil {
			row.target, row.ok = "no slower than standalone, worst p99 <= 4ms", r.wall <= standaloneDefault && worstP99 <= 4*time.Millisecond
		}
		emit(row)
	}
	return nil
}
