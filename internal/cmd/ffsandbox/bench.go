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
	cases := fs.String("cases", "fast,roundtrips,memory", "which cases to run: fast, roundtrips, memory, promote, idle, cluster, fairness, paging")
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
		"fast":       benchFast,
		"roundtrips": benchRoundTrips,
		"promote":    benchPromoteStandalone,
		"idle":       benchIdle,
		"cluster":    benchCluster,
		"memory":     benchMemory,
		"fairness":   benchFairness,
		"paging":     benchPaging,
	}
	for _, name := range strings.Split(*cases, ",") {
		step, ok := steps[name]
		if !ok {
			return fmt.Errorf("unknown case %q: use fast, roundtrips, memory, promote, idle, cluster, fairness, paging", name)
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
	wall time.Duration
	// cpu is the process's own user and system time (wait4's rusage).
	cpu    time.Duration
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
	r := runResult{wall: time.Since(start), code: cmd.ProcessState.ExitCode(), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
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

// reseedableServer starts a bench server and returns reseed, which empties
// it, loads the fixture library and seeds the large backlog afresh over the
// first spread partitions, with the server's counters reset.
func reseedableServer(cfg benchConfig, lanes []string) (s *fftest.Server, c *redis.Client, reseed func(spread int) error, stop func(), err error) {
	s, c, err = newServer(cfg.partitons, lanes)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ctx := context.Background()
	reseed = func(spread int) error {
		c.FlushAll(ctx)
		if err := fftest.LoadLibrary(ctx, c, ""); err != nil {
			return err
		}
		fftest.SetPartitions(ctx, c, cfg.partitons)
		fftest.RegisterLanes(ctx, c, lanes...)
		if err := seedBacklog(c, cfg.large, spread, lanes, fftest.Due); err != nil {
			return err
		}
		return c.ConfigResetStat(ctx).Err()
	}
	stop = func() { c.Close(); s.Stop(); os.RemoveAll(s.Dir) }
	return s, c, reseed, stop, nil
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

// clusterReseed empties the cluster, loads the fixture library and seeds
// the large backlog afresh, with the primaries' counters reset.
func clusterReseed(cl *fftest.Cluster, cc *redis.ClusterClient, cfg benchConfig, lanes []string) func() error {
	return func() error {
		ctx := context.Background()
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
}

// startCluster starts the benches' 3-primary cluster and a client of it;
// stop removes both.
func startCluster() (cl *fftest.Cluster, cc *redis.ClusterClient, stop func(), err error) {
	cl, err = fftest.StartCluster("", fftest.Binary{}, 3, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	cc = cl.Client()
	return cl, cc, func() { cc.Close(); cl.Stop(); os.RemoveAll(cl.Dir) }, nil
}

// primaryFloors are the primaries' time inside FCALL since their counters
// were reset: the busiest one's and the sum.
func primaryFloors(cl *fftest.Cluster) (busiest, sum time.Duration) {
	cl.ForEachPrimary(context.Background(), func(n *redis.Client) error {
		_, u := fcallUsec(n)
		d := time.Duration(u) * time.Microsecond
		busiest, sum = max(busiest, d), sum+d
		return nil
	})
	return busiest, sum
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

// worstPrimary picks the primary whose PING latencies have the highest p99.
func worstPrimary(lats [][]time.Duration) ([]time.Duration, time.Duration) {
	var worst []time.Duration
	var worstP99 time.Duration
	for _, lat := range lats {
		if q := p99(lat); q >= worstP99 {
			worstP99, worst = q, lat
		}
	}
	return worst, worstP99
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
