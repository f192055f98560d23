//go:build ffsandbox

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/redis/go-redis/v9"
)

// benchConfig says which cases to run and how big.
type benchConfig struct {
	bin       string
	small     int // the "10k" case
	large     int // the "100k" case
	huge      int // the "1M" memory case; 0 skips it
	partitons int
	latency   time.Duration
}

type benchRow struct {
	name, ffdelay, baseline, ratio, ping, rss, target string
	ok                                                bool
}

func bench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	bin := fs.String("ffdelay", "./ffdelay", "ffdelay binary")
	quick := fs.Bool("quick", false, "small sizes, to check the bench itself")
	huge := fs.Int("huge", 1_000_000, "executions for the peak-memory case (0 skips it)")
	cases := fs.String("cases", "promote,idle,cluster,memory", "which cases to run")
	extra := fs.String("args", "", "extra ffdelay arguments for every run, space-separated (for tuning)")
	fs.Parse(args)
	cfg := benchConfig{bin: *bin, small: 10_000, large: 100_000, huge: *huge, partitons: 256, latency: 2 * time.Millisecond}
	extraArgs = strings.Fields(*extra)
	if *quick {
		cfg.small, cfg.large, cfg.huge = 1_000, 5_000, 0
	}
	host, _ := os.Hostname()
	fmt.Printf("# ffdelay benchmarks: %s, %d cores, %s, redis-server %s\n", host, numCPU(), time.Now().UTC().Format(time.RFC3339), redisVersion())
	fmt.Printf("# ratios are measured in one run on one server; wall is the whole ffdelay process, start to exit\n\n")
	var rows []benchRow
	emit := func(r benchRow) {
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "%s: %s | %s | %s | ping %s | %s\n", strings.TrimSpace(r.name), r.ffdelay, r.baseline, r.ratio, r.ping, r.rss)
	}
	defer func() {
		tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "case\tffdelay\tbaseline\tratio\tother client PING p50 / p99 / max\tpeak RSS\ttarget\tverdict")
		for _, r := range rows {
			verdict := "ok"
			if !r.ok {
				verdict = "MISSED"
			}
			if r.target == "" {
				verdict = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.ffdelay, r.baseline, r.ratio, r.ping, r.rss, r.target, verdict)
		}
		tw.Flush()
	}()
	steps := map[string]func(benchConfig, func(benchRow)) error{
		"promote": benchPromoteStandalone,
		"idle":    benchIdle,
		"cluster": benchCluster,
		"memory":  benchMemory,
	}
	for _, name := range strings.Split(*cases, ",") {
		step, ok := steps[name]
		if !ok {
			return fmt.Errorf("unknown case %q: use promote, idle, cluster, memory", name)
		}
		if err := step(cfg, emit); err != nil {
			return err
		}
	}
	return nil
}

// --- helpers ---------------------------------------------------------------

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func redisVersion() string {
	out, _ := exec.Command("redis-server", "--version").Output()
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "v=") {
			return f[2:]
		}
	}
	return "?"
}

// extraArgs are appended to every ffdelay run (--args).
var extraArgs []string

type runResult struct {
	wall   time.Duration
	rssKB  int64
	stdout []byte
	code   int
}

// runFFDelay runs the binary and measures its wall time and peak RSS.
func runFFDelay(bin string, args ...string) (runResult, error) {
	var out bytes.Buffer
	return run(&out, bin, args...)
}

// runToDevNull streams stdout away, so the process's memory is measured,
// not a buffer of ours.
func runToDevNull(bin string, args ...string) (runResult, error) {
	return run(io.Discard, bin, args...)
}

// run measures peak RSS by polling /proc/PID/status VmHWM: the rusage of a
// child forked from this (large) process would report this process's
// high-water mark, not ffdelay's.
func run(stdout io.Writer, bin string, args ...string) (runResult, error) {
	cmd := exec.Command(bin, append(args, extraArgs...)...)
	cmd.Stdout = stdout
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return runResult{}, err
	}
	var hwm int64
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		path := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
		for {
			if kb := vmHWM(path); kb > hwm {
				hwm = kb
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	r := runResult{wall: time.Since(start), code: cmd.ProcessState.ExitCode()}
	close(done)
	<-polled
	r.rssKB = hwm
	if b, ok := stdout.(*bytes.Buffer); ok {
		r.stdout = b.Bytes()
	}
	if err != nil && r.code != 1 {
		return r, fmt.Errorf("ffdelay %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return r, nil
}

func vmHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "VmHWM:"), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func newServer(partitions int, lanes []string) (*fftest.Server, *redis.Client, error) {
	s, c, err := fftest.StartFlowFabric("", fftest.Binary{})
	if err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	if err := fftest.SetPartitions(ctx, c, partitions); err != nil {
		return nil, nil, err
	}
	if err := fftest.RegisterLanes(ctx, c, lanes...); err != nil {
		return nil, nil, err
	}
	return s, c, nil
}

// backlogServer starts a server and seeds n executions of shape spread
// over the first spread partitions; stop removes it again.
func backlogServer(cfg benchConfig, n, spread int, lanes []string, shape fftest.Shape) (s *fftest.Server, c *redis.Client, stop func(), err error) {
	s, c, err = newServer(cfg.partitons, lanes)
	if err != nil {
		return nil, nil, nil, err
	}
	stop = func() { c.Close(); s.Stop(); os.RemoveAll(s.Dir) }
	if err := seedBacklog(c, n, spread, lanes, shape); err != nil {
		stop()
		return nil, nil, nil, err
	}
	return s, c, stop, nil
}

func lanesN(n int) []string {
	out := []string{"default"}
	for i := 1; i < n; i++ {
		out = append(out, "lane-"+strconv.Itoa(i))
	}
	return out
}

// seedBacklog writes n due executions spread over partitions and lanes.
func seedBacklog(c redis.Cmdable, n, partitions int, lanes []string, shape fftest.Shape) error {
	ctx := context.Background()
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		return err
	}
	const batch = 20_000
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		execs := make([]fftest.Exec, 0, end-start)
		for i := start; i < end; i++ {
			execs = append(execs, fftest.Exec{Partition: i % partitions, Lane: lanes[(i/partitions)%len(lanes)], Shape: shape, Priority: i % 5, OffsetMs: -1000 - int64(i%5000)})
		}
		if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
			return err
		}
	}
	return nil
}

// promoteTimed runs ffdelay promote against a freshly reset commandstats
// and returns the run and the server's FCALL count and time.
func promoteTimed(bin string, c redis.Cmdable, args ...string) (runResult, int64, time.Duration, error) {
	c.ConfigResetStat(context.Background())
	r, err := runToDevNull(bin, append([]string{"promote", "-o", "json"}, args...)...)
	if err != nil {
		return r, 0, 0, err
	}
	calls, usec := fcallUsec(c)
	return r, calls, time.Duration(usec) * time.Microsecond, nil
}

// fcallUsec reads the server's own time inside FCALL since CONFIG RESETSTAT.
func fcallUsec(c redis.Cmdable) (calls, usec int64) {
	info, _ := c.Info(context.Background(), "commandstats").Result()
	st := fftest.ParseCommandStat(info, "fcall")
	return st.Calls, st.Usec
}

func pct(lat []time.Duration) string {
	if len(lat) == 0 {
		return "-"
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	return fmt.Sprintf("%s / %s / %s", ms(p(0.5)), ms(p(0.99)), ms(lat[len(lat)-1]))
}

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[min(len(lat)-1, int(0.99*float64(len(lat))))]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + "ms"
}

func mb(kb int64) string { return strconv.FormatFloat(float64(kb)/1024, 'f', 1, 64) + " MB" }

func count(n int) string {
	if n >= 1_000_000 && n%1_000_000 == 0 {
		return strconv.Itoa(n/1_000_000) + "M"
	}
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// --- cases -----------------------------------------------------------------

// benchPromoteStandalone: promote 10k and 100k over 256 partitions with 1
// and 4 lanes. Each backlog is promoted three times on one server, freshly
// seeded each time: by ffdelay alone (wall against the server floor), by
// ffdelay while another client sends PING in a loop (fairness), and by the
// engine's algorithm with the same PING loop.
func benchPromoteStandalone(cfg benchConfig, emit func(benchRow)) error {
	ctx := context.Background()
	for _, n := range []int{cfg.small, cfg.large} {
		for _, nl := range []int{1, 4} {
			lanes := lanesN(nl)
			s, c, err := newServer(cfg.partitons, lanes)
			if err != nil {
				return err
			}
			reseed := func() error {
				c.FlushAll(ctx)
				if err := fftest.LoadLibrary(ctx, c, ""); err != nil {
					return err
				}
				fftest.SetPartitions(ctx, c, cfg.partitons)
				fftest.RegisterLanes(ctx, c, lanes...)
				if err := seedBacklog(c, n, cfg.partitons, lanes, fftest.Due); err != nil {
					return err
				}
				return c.ConfigResetStat(ctx).Err()
			}
			name := fmt.Sprintf("promote %s, %d partitions x %d lane(s)", count(n), cfg.partitons, nl)

			if err := reseed(); err != nil {
				return err
			}
			r, err := runToDevNull(cfg.bin, "promote", "--url", "redis://"+s.Addr, "-o", "json")
			if err != nil {
				return err
			}
			calls, usec := fcallUsec(c)
			floor := time.Duration(usec) * time.Microsecond
			ratio := float64(r.wall) / float64(floor)
			row := benchRow{name: name, ffdelay: r.wall.Round(time.Millisecond).String(),
				baseline: fmt.Sprintf("floor %s (%d FCALLs)", floor.Round(time.Millisecond), calls),
				ratio:    fmt.Sprintf("%.2fx floor", ratio), ping: "-", rss: mb(r.rssKB)}
			if n == cfg.large {
				// The floor target is set for the large backlog, where the
				// process's fixed start-up cost is small beside the work.
				row.target, row.ok = "<= 1.2x floor", ratio <= 1.2
			}
			emit(row)

			if err := reseed(); err != nil {
				return err
			}
			pg := startPinger(s.Addr)
			r, err = runToDevNull(cfg.bin, "promote", "--url", "redis://"+s.Addr, "-o", "json")
			lat := pg.Stop()[0]
			if err != nil {
				return err
			}
			_, usec = fcallUsec(c)
			emit(benchRow{name: "  same, another client PINGs in a loop", ffdelay: r.wall.Round(time.Millisecond).String(),
				baseline: fmt.Sprintf("floor %s, %d PINGs", (time.Duration(usec) * time.Microsecond).Round(time.Millisecond), len(lat)),
				ratio:    fmt.Sprintf("%.2fx floor", float64(r.wall)/float64(time.Duration(usec)*time.Microsecond)), ping: pct(lat), rss: mb(r.rssKB),
				target: "PING p99 <= 5ms", ok: p99(lat) <= 5*time.Millisecond})

			if err := reseed(); err != nil {
				return err
			}
			pg = startPinger(s.Addr)
			start := time.Now()
			est, err := fftest.EnginePromoter(ctx, c, cfg.partitons, lanes, nil)
			ew := time.Since(start)
			lat = pg.Stop()[0]
			if err != nil {
				return err
			}
			_, eusec := fcallUsec(c)
			speedup := float64(ew) / float64(r.wall)
			emit(benchRow{name: "  engine's algorithm, same backlog and PING loop", ffdelay: "-",
				baseline: fmt.Sprintf("%s (%d FCALLs, %d cycles, floor %s)", ew.Round(time.Millisecond), est.Calls, est.Cycles, (time.Duration(eusec) * time.Microsecond).Round(time.Millisecond)),
				ratio:    fmt.Sprintf("ffdelay %.1fx faster", speedup), ping: pct(lat), rss: "-", target: ">= 4x faster", ok: speedup >= 4})
			c.Close()
			s.Stop()
			os.RemoveAll(s.Dir)
		}
	}
	return benchOneSet(cfg, emit)
}

// benchOneSet: the large backlog in a single delayed set, as when a lane's
// solo executions all land on one partition.
func benchOneSet(cfg benchConfig, emit func(benchRow)) error {
	s, c, stop, err := backlogServer(cfg, cfg.large, 1, lanesN(1), fftest.Due)
	if err != nil {
		return err
	}
	defer stop()
	r, calls, floor, err := promoteTimed(cfg.bin, c, "--url", "redis://"+s.Addr)
	if err != nil {
		return err
	}
	ratio := float64(r.wall) / float64(floor)
	emit(benchRow{name: fmt.Sprintf("promote %s, all in one delayed set", count(cfg.large)), ffdelay: r.wall.Round(time.Millisecond).String(),
		baseline: fmt.Sprintf("floor %s (%d FCALLs)", floor.Round(time.Millisecond), calls), ratio: fmt.Sprintf("%.2fx floor", ratio),
		ping: "-", rss: mb(r.rssKB), target: "<= 1.2x floor", ok: ratio <= 1.2})
	return nil
}

// benchIdle: list and an idle promote pass over 256 partitions x 3 and 4
// lanes, locally and through a proxy adding 2 ms to every reply; the
// engine's idle pass through the same proxy.
func benchIdle(cfg benchConfig, emit func(benchRow)) error {
	ctx := context.Background()
	for _, nl := range []int{3, 4} {
		lanes := lanesN(nl)
		// Some future entries so the sets exist but nothing is due.
		s, _, stop, err := backlogServer(cfg, 1000, cfg.partitons, lanes, fftest.Future)
		if err != nil {
			return err
		}
		proxy, err := fftest.StartFaultProxy(s.Addr)
		if err != nil {
			stop()
			return err
		}
		proxy.SetLatency(cfg.latency)
		for _, via := range []struct {
			name, addr string
			proxied    bool
		}{{"local", s.Addr, false}, {"via 2ms proxy", proxy.Addr(), true}} {
			for _, cmd := range [][]string{{"list"}, {"promote"}} {
				before := proxy.RoundTrips()
				// Best of 3: the figure is round trips, not scheduler noise.
				var best runResult
				for i := 0; i < 3; i++ {
					r, err := runFFDelay(cfg.bin, append(cmd, "--url", "redis://"+via.addr, "-o", "json")...)
					if err != nil {
						return err
					}
					if i == 0 || r.wall < best.wall {
						best = r
					}
				}
				rts := (proxy.RoundTrips() - before) / 3
				row := benchRow{name: fmt.Sprintf("idle %s, %d x %d lanes, %s", cmd[0], cfg.partitons, nl, via.name),
					ffdelay: best.wall.Round(100 * time.Microsecond).String(), baseline: "-", ratio: "-", ping: "-", rss: mb(best.rssKB), ok: true}
				if via.proxied {
					row.baseline = fmt.Sprintf("%d round trips", rts)
					row.target = "< 30ms, a handful of round trips"
					row.ok = best.wall < 30*time.Millisecond
				}
				emit(row)
			}
		}
		// The engine's idle pass, through the proxy.
		pc := redis.NewClient(&redis.Options{Addr: proxy.Addr(), PoolSize: 1, DisableIdentity: true})
		start := time.Now()
		if _, err := fftest.EnginePromoter(ctx, pc, cfg.partitons, lanes, nil); err != nil {
			return err
		}
		emit(benchRow{name: fmt.Sprintf("  engine's idle pass, %d x %d lanes, via 2ms proxy", cfg.partitons, nl), ffdelay: "-",
			baseline: time.Since(start).Round(time.Millisecond).String(), ratio: "-", ping: "-", rss: "-", target: "(about 2.4s in the spec)", ok: true})
		pc.Close()
		proxy.Close()
		stop()
	}
	return nil
}

// benchCluster: 100k promote on a local 3-primary cluster against the same
// backlog on one standalone server, in the same run.
func benchCluster(cfg benchConfig, emit func(benchRow)) error {
	ctx := context.Background()
	lanes := lanesN(1)
	s, c, stop, err := backlogServer(cfg, cfg.large, cfg.partitons, lanes, fftest.Due)
	if err != nil {
		return err
	}
	single, _, singleFloor, err := promoteTimed(cfg.bin, c, "--url", "redis://"+s.Addr)
	stop()
	if err != nil {
		return err
	}

	cl, err := fftest.StartCluster("", fftest.Binary{}, 3, 0)
	if err != nil {
		return err
	}
	defer func() { cl.Stop(); os.RemoveAll(cl.Dir) }()
	cc := cl.Client()
	defer cc.Close()
	// The default (1 pipeline per primary) and 2 per primary; each seeded
	// afresh and run twice: alone for the time, then with a PING loop for
	// fairness. On this 2-core machine three busy primaries and ffdelay
	// already share two cores, so the fairness figure shows CPU
	// scheduling as much as the servers' event loops.
	reseed := func() error {
		if err := cl.Reset(ctx); err != nil {
			return err
		}
		fftest.SetPartitions(ctx, cc, cfg.partitons)
		fftest.RegisterLanes(ctx, cc, lanes...)
		if err := seedBacklog(cc, cfg.large, cfg.partitons, lanes, fftest.Due); err != nil {
			return err
		}
		return cl.ForEachPrimary(ctx, func(n *redis.Client) error { return n.ConfigResetStat(ctx).Err() })
	}
	for _, pipelines := range []string{"1", "2"} {
		if err := reseed(); err != nil {
			return err
		}
		r, err := runToDevNull(cfg.bin, "promote", "--cluster", "--url", cl.URL(), "-o", "json", "--pipelines", pipelines)
		if err != nil {
			return err
		}
		var maxUsec, sumUsec int64
		cl.ForEachPrimary(ctx, func(n *redis.Client) error {
			_, u := fcallUsec(n)
			sumUsec += u
			maxUsec = max(maxUsec, u)
			return nil
		})
		if err := reseed(); err != nil {
			return err
		}
		pg := startPinger(cl.Seeds()...)
		rp, err := runToDevNull(cfg.bin, "promote", "--cluster", "--url", cl.URL(), "-o", "json", "--pipelines", pipelines)
		var worst []time.Duration
		var worstP99 time.Duration
		for _, lat := range pg.Stop() {
			if q := p99(lat); q >= worstP99 {
				worstP99, worst = q, lat
			}
		}
		if err != nil {
			return err
		}
		speed := float64(single.wall) / float64(r.wall)
		emit(benchRow{name: fmt.Sprintf("promote %s, 3-primary cluster, %s pipeline(s)/primary", count(cfg.large), pipelines), ffdelay: r.wall.Round(time.Millisecond).String(),
			baseline: fmt.Sprintf("standalone %s (floor %s); cluster floor max %s, sum %s", single.wall.Round(time.Millisecond),
				singleFloor.Round(time.Millisecond), (time.Duration(maxUsec) * time.Microsecond).Round(time.Millisecond),
				(time.Duration(sumUsec) * time.Microsecond).Round(time.Millisecond)),
			ratio: fmt.Sprintf("%.2fx standalone speed", speed), ping: "-", rss: mb(r.rssKB),
			target: "faster than standalone", ok: speed > 1})
		emit(benchRow{name: "  same, a PING loop over the primaries", ffdelay: rp.wall.Round(time.Millisecond).String(), baseline: "-", ratio: "-",
			ping: pct(worst) + " (worst primary)", rss: mb(rp.rssKB), target: "PING p99 <= 5ms", ok: worstP99 <= 5*time.Millisecond})
	}
	return nil
}

// benchMemory: peak RSS of promote -o json at 100k and at 1M executions.
func benchMemory(cfg benchConfig, emit func(benchRow)) error {
	type size struct {
		n       int
		limitKB int64
	}
	sizes := []size{{cfg.large, 60 << 10}}
	if cfg.huge > 0 {
		sizes = append(sizes, size{cfg.huge, 100 << 10})
	}
	for _, sz := range sizes {
		s, _, stop, err := backlogServer(cfg, sz.n, cfg.partitons, lanesN(1), fftest.Due)
		if err != nil {
			return err
		}
		r, err := runToDevNull(cfg.bin, "promote", "--url", "redis://"+s.Addr, "-o", "json")
		stop()
		if err != nil {
			return err
		}
		emit(benchRow{name: fmt.Sprintf("peak memory, promote %s -o json", count(sz.n)), ffdelay: r.wall.Round(time.Millisecond).String(),
			baseline: "-", ratio: "-", ping: "-", rss: mb(r.rssKB), target: "RSS < " + mb(sz.limitKB), ok: r.rssKB < sz.limitKB})
	}
	return nil
}
