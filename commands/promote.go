package commands

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowfabric/ffdelay/internal/metrics"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/internal/watch"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

// promoteOptions are promote's parsed flags.
type promoteOptions struct {
	Scope scopeOptions
	// Run is what the engine is asked to do (its Scope is filled in once
	// the server has been read).
	Run       promote.Options
	Verbose   bool
	Watch     bool
	Interval  time.Duration
	MaxCycles int
	// Listen is the standby endpoint's address (--listen, FFDELAY_LISTEN).
	Listen       string
	PerPartition bool
	// Lease is set with --lease: the key and TTL replicas contend for.
	Lease    bool
	LeaseKey string
	LeaseTTL time.Duration
	// IntervalRaised is set when a too-short interval was raised to 100ms.
	IntervalRaised bool
	// Progress shows a progress bar on stderr for backlogs of at least
	// ProgressMin executions.
	Progress    bool
	ProgressMin int64
}

// minInterval is the engine's own floor for its promoter interval.
const minInterval = 100 * time.Millisecond

func newPromoteCommand(ctx context.Context, d *deps) *cli.Command {
	return &cli.Command{
		Name:  "promote",
		Usage: "promote due delayed executions through ff_promote_delayed, once or in a watch loop",
		UsageText: `ffdelay promote [options]

Examples:
   ffdelay promote                                   promote everything due, once
   ffdelay promote --dry-run                         what would happen, without writing
   ffdelay promote --namespace acme --tag region=eu  only matching executions
   ffdelay promote --execution '{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11'
   ffdelay promote --rate 500 --limit 10000          gently, at most 10k
   ffdelay promote --watch --interval 1s -o ndjson   keep promoting, one line per cycle
   ffdelay promote --watch --lease --listen :9465    one of several standby replicas`,
		Flags: append(scopeFlags(),
			&cli.BoolFlag{Name: flagDryRun, Usage: "read only: report what would be promoted, cleaned, repaired or fail"},
			&cli.BoolFlag{Name: flagRepair, Usage: "fix misindexed eligible entries and delayed ones without delay_until atomically instead of reporting needs_repair (needs +watch +multi +exec)"},
			&cli.StringFlag{Name: flagNamespace, Usage: "only executions of namespace `NS`"},
			&cli.StringSliceFlag{Name: flagTag, Usage: "only executions with tag `KEY=VALUE` (repeatable, all must match)"},
			&cli.StringSliceFlag{Name: flagExecution, Usage: "only these execution `ID`s (repeatable)"},
			&cli.StringFlag{Name: flagLimit, Usage: "stop after `N` promotions"},
			&cli.StringFlag{Name: flagRate, Usage: "at most `N` promotions per second"},
			&cli.StringFlag{Name: flagMaxStall, Usage: "the most server time `D` ffdelay's FCALLs in flight on one primary may take together; batch sizes follow what ffdelay's own batches cost there", Value: "1ms"},
			&cli.StringFlag{Name: flagBatchSize, Usage: "fixed `N` FCALLs per pipeline (overrides --max-stall)", Hidden: true},
			&cli.StringFlag{Name: flagPipelines, Usage: "`N` pipelines of FCALLs in flight per primary (default: 2 standalone, 1 per primary in a cluster)"},
			&cli.BoolFlag{Name: flagVerbose, Aliases: []string{"v"}, Usage: "list every execution in the table"},
			&cli.BoolFlag{Name: flagWatch, Usage: "repeat every --interval until SIGINT/SIGTERM or --max-cycles"},
			&cli.StringFlag{Name: flagInterval, Usage: "watch interval `D`, start to start, minimum 100ms (default: $FF_DELAYED_PROMOTER_INTERVAL_MS or 750ms)"},
			&cli.StringFlag{Name: flagMaxCycles, Usage: "stop watching after `N` cycles"},
			&cli.StringFlag{Name: flagListen, Usage: "with --watch, serve /metrics, /healthz and /readyz on `ADDR` (host:port) [$FFDELAY_LISTEN]"},
			&cli.BoolFlag{Name: flagMetricsPerPartition, Usage: "with --listen, label the backlog gauges by partition too (many series)"},
			&cli.BoolFlag{Name: flagLease, Usage: "with --watch, promote only while holding a lease on the server, so several replicas run with one promoting [$FFDELAY_LEASE]"},
			&cli.StringFlag{Name: flagLeaseKey, Usage: "the lease `KEY` (default: ffdelay:lease:<hash of the partitions and lanes in scope>)"},
			&cli.StringFlag{Name: flagLeaseTTL, Usage: "the lease's time to live `D`, renewed every third of it", Value: "10s"},
			&cli.StringFlag{Name: flagProgress, Usage: "progress bar on stderr `WHEN`: auto (a terminal and a big backlog), always or never", Value: "auto"},
		),
		Action: func(c *cli.Context) error {
			if err := setupOutput(c, d); err != nil {
				return err
			}
			opts, err := parsePromoteOptions(c, d)
			if err != nil {
				return err
			}
			conn, err := connOptions(c, d)
			if err != nil {
				return err
			}
			if opts.Verbose {
				d.printer.Note("password from %s", d.passwordSource)
			}
			if opts.IntervalRaised {
				d.printer.Warn("--interval is below the engine's floor; raised to %s", minInterval)
			}
			if opts.Lease {
				if err := watch.CheckTTL(opts.LeaseTTL, conn.Timeout); err != nil {
					return usageError("%v", err)
				}
			}
			if opts.Watch {
				return runWatch(ctx, opts, conn, d.printer)
			}
			return withClient(ctx, conn, d.printer, func(client *redisops.Client) error {
				return runPromote(ctx, opts, client, d.printer)
			})
		},
	}
}

func parsePromoteOptions(c *cli.Context, d *deps) (promoteOptions, error) {
	var o promoteOptions
	if c.NArg() > 0 {
		return o, usageError("promote takes no arguments, got %q (use --execution ID)", c.Args().First())
	}
	scope, err := parseScopeOptions(c, d)
	if err != nil {
		return o, err
	}
	o.Scope = scope
	o.Run.DryRun, o.Verbose, o.Watch, o.Run.Repair = c.Bool(flagDryRun), c.Bool(flagVerbose), c.Bool(flagWatch), c.Bool(flagRepair)
	o.Run.Namespace = c.String(flagNamespace)
	if c.IsSet(flagNamespace) && o.Run.Namespace == "" {
		return o, usageError("--namespace is empty: give a namespace or leave the flag out")
	}
	for _, t := range c.StringSlice(flagTag) {
		f, err := parseTagFilter(t)
		if err != nil {
			return o, usageError("%v", err)
		}
		o.Run.Tags = append(o.Run.Tags, f)
	}
	for _, v := range c.StringSlice(flagExecution) {
		for _, s := range strings.Split(v, ",") {
			id, err := model.ParseExecutionID(strings.TrimSpace(s))
			if err != nil {
				return o, usageError("--execution: %v", err)
			}
			o.Run.Executions = append(o.Run.Executions, id)
		}
	}
	if s := c.String(flagLimit); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return o, usageError("--limit %q must be a positive number", s)
		}
		o.Run.Limit = n
	}
	if s := c.String(flagRate); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r <= 0 || r > 1e9 {
			return o, usageError("--rate %q must be a positive number of promotions per second", s)
		}
		o.Run.Rate = r
	}
	if v := c.String(flagBatchSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return o, usageError("--batch-size %q must be 1 to 10000", v)
		}
		o.Run.BatchSize = n
	}
	if o.Run.MaxStall, err = parseDuration("--"+flagMaxStall, c.String(flagMaxStall)); err != nil {
		return o, usageError("%v", err)
	}
	if s := c.String(flagPipelines); s != "" {
		if o.Run.Pipelines, err = strconv.Atoi(s); err != nil || o.Run.Pipelines < 1 || o.Run.Pipelines > 8 {
			return o, usageError("--pipelines %q must be 1 to 8", s)
		}
	}
	if err := parseWatchFlags(c, d, &o); err != nil {
		return o, err
	}
	if o.Progress, o.ProgressMin, err = progressMode(c, d, o.Watch); err != nil {
		return o, err
	}
	if err := parseLease(c, d, &o); err != nil {
		return o, err
	}
	return o, nil
}

// parseWatchFlags reads --interval (or FF_DELAYED_PROMOTER_INTERVAL_MS),
// --max-cycles, --listen and --metrics-per-partition.
func parseWatchFlags(c *cli.Context, d *deps, o *promoteOptions) error {
	var err error
	o.Interval = 750 * time.Millisecond
	if s := c.String(flagInterval); s != "" {
		if o.Interval, err = parseDuration("--interval", s); err != nil {
			return usageError("%v", err)
		}
	} else if s := d.getenv("FF_DELAYED_PROMOTER_INTERVAL_MS"); s != "" {
		ms, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || ms <= 0 {
			return usageError("FF_DELAYED_PROMOTER_INTERVAL_MS %q must be a positive number of milliseconds", s)
		}
		o.Interval = time.Duration(ms) * time.Millisecond
	}
	if o.Interval < minInterval {
		o.Interval, o.IntervalRaised = minInterval, true
	}
	if s := c.String(flagMaxCycles); s != "" {
		if o.MaxCycles, err = strconv.Atoi(s); err != nil || o.MaxCycles < 1 {
			return usageError("--max-cycles %q must be a positive number", s)
		}
	}
	if (c.IsSet(flagInterval) || c.IsSet(flagMaxCycles)) && !o.Watch {
		return usageError("--interval and --max-cycles only apply with --watch")
	}
	o.Listen, o.PerPartition = c.String(flagListen), c.Bool(flagMetricsPerPartition)
	if o.Listen == "" && o.Watch {
		o.Listen = d.getenv("FFDELAY_LISTEN")
	}
	if c.IsSet(flagListen) && !o.Watch {
		return usageError("--listen serves a watch loop's metrics: add --watch")
	}
	return nil
}

// parseLease reads --lease, --lease-key and --lease-ttl.
func parseLease(c *cli.Context, d *deps, o *promoteOptions) error {
	if c.IsSet(flagLease) {
		o.Lease = c.Bool(flagLease)
	} else if v := d.getenv("FFDELAY_LEASE"); v != "" {
		b, ok := parseBoolEnv(v)
		if !ok {
			return usageError("FFDELAY_LEASE=%q is not a yes/no value: use 1/0, true/false, yes/no or on/off", v)
		}
		o.Lease = b
	}
	if !o.Lease {
		if c.IsSet(flagLeaseKey) || c.IsSet(flagLeaseTTL) {
			return usageError("--lease-key and --lease-ttl go with --lease")
		}
		return nil
	}
	if !o.Watch {
		return usageError("--lease elects one promoter among standby replicas: add --watch")
	}
	if o.Run.DryRun {
		return usageError("--lease with --dry-run: a dry run writes nothing, so there is nothing to elect")
	}
	ttl, err := parseDuration("--"+flagLeaseTTL, c.String(flagLeaseTTL))
	if err != nil {
		return usageError("%v", err)
	}
	if ttl < time.Second {
		return usageError("--lease-ttl %s is below 1s: the holder renews every third of it", ttl)
	}
	o.LeaseTTL = ttl
	o.LeaseKey = c.String(flagLeaseKey)
	if o.LeaseKey == "" {
		o.LeaseKey = defaultLeaseKey(o.Scope)
	}
	return nil
}

// defaultLeaseKey is derived from the scope, so replicas that work the same
// partitions and lanes contend for one lease and replicas that shard
// partition ranges do not.
func defaultLeaseKey(s scopeOptions) string {
	parts := "all"
	if len(s.PartitionSpec) > 0 {
		ps := make([]string, len(s.PartitionSpec))
		for i, p := range s.PartitionSpec {
			ps[i] = strconv.Itoa(p)
		}
		parts = strings.Join(ps, ",")
	}
	lanes := "registered"
	if len(s.Lanes) > 0 {
		lanes = strings.Join(slices.Sorted(slices.Values(s.Lanes)), ",")
	}
	h := fnv.New32a()
	h.Write([]byte("partitions=" + parts + ";lanes=" + lanes))
	return fmt.Sprintf("ffdelay:lease:%08x", h.Sum32())
}

// progressMode reads --progress: auto shows a bar for big jobs (at least
// min items) when stderr is a terminal and -q is not given; always shows
// one for any job; never in a watch loop.
func progressMode(c *cli.Context, d *deps, watch bool) (show bool, min int64, err error) {
	quiet, _ := boolean(c, flagQuiet)
	switch mode := c.String(flagProgress); mode {
	case "auto":
		return !quiet && !watch && d.terminal(d.stderr), progressThreshold, nil
	case "always":
		return !watch, 0, nil
	case "never":
		return false, 0, nil
	default:
		return false, 0, usageError("--progress %q: use auto, always or never", mode)
	}
}

func (o promoteOptions) runOptions(scope model.Scope) promote.Options {
	ro := o.Run
	ro.Scope = scope
	return ro
}

// progressThreshold is the backlog from which a terminal gets a progress bar.
const progressThreshold = 2000

// runPromote promotes everything due in scope once.
func runPromote(ctx context.Context, o promoteOptions, client *redisops.Client, p *output.Printer) error {
	started := time.Now()
	var sample *laneSample
	if len(o.Run.Executions) == 0 {
		// Due work in lanes the scope leaves out (the engine's blind
		// spot) is looked for as list does, beside the other reads.
		if sample = sampleLanes(ctx, client, o.Scope); sample != nil {
			defer func() { <-sample.done }()
		}
	}
	scope, err := resolveScope(ctx, client, o.Scope, p)
	if err != nil {
		return err
	}
	if err := client.RequireLibrary(ctx, scope.Registry.Snapshot); err != nil {
		// A dry run reads cores only: it goes on, but says what a real
		// promote would meet.
		switch {
		case !o.Run.DryRun:
			return err
		case redisops.KindOf(err) == redisops.KindNoLibrary:
			p.Warn("%v; a dry run reads cores only, but a real promote would stop here (exit 3)", err)
		}
	}
	// The metrics file carries the backlog as it was when the run began:
	// what a cron job alerts on.
	var backlog []model.Group
	if o.Scope.MetricsFile != "" {
		list, err := client.NewList(ctx, scope.Scope, scope.Registry.Snapshot)
		if err != nil {
			return err
		}
		if backlog, err = list.Groups(ctx, 0); err != nil {
			return err
		}
	}
	ro := o.runOptions(scope.Scope)
	ro.Snapshot = scope.Registry.Snapshot
	run, err := promote.Plan(ctx, client, ro)
	if err != nil {
		return err
	}
	noData := false
	if len(o.Run.Executions) == 0 {
		noData = warnEmptyScope(p, o.Scope, scope, run.Delayed)
	}
	var bar *progressbar.ProgressBar
	if o.Progress && run.Due > 0 && run.Due >= o.ProgressMin {
		desc := "promoting"
		if o.Run.DryRun {
			desc = "checking"
		}
		bar = newProgressBar(run.Due, desc, p)
	}
	w := p.BeginPromote(output.PromoteHeader{ServerTimeMs: run.ServerTimeMs, DryRun: o.Run.DryRun, Repair: o.Run.Repair, Verbose: o.Verbose})
	var totals model.PromoteTotals
	runErr := run.Execute(ctx, func(r model.Result) {
		totals.AddResult(r)
		w.Result(r)
		if bar != nil {
			bar.Add(1)
		}
	})
	if bar != nil {
		bar.Finish()
	}
	lost := runErr != nil && !errors.Is(runErr, context.Canceled)
	end := promoteEnd(ctx, o, run, totals, time.Since(started), runErr)
	if !noData && !lost && ctx.Err() == nil {
		if end.OutOfScope, err = lookOutside(ctx, client, sample, scope, p); err != nil {
			return err
		}
	}
	w.End(end)
	if o.Scope.MetricsFile != "" {
		if err := metrics.WriteMetrics(o.Scope.MetricsFile, metrics.MetricsRun{Command: "promote", Started: started, Totals: &totals, Groups: backlog}); err != nil {
			return err
		}
	}
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case lost:
		return runErr
	case totals.Failed > 0:
		return errSilentFailure
	}
	return nil
}

// lookOutside finishes the look for due work in lanes outside the scope,
// says so on stderr, and returns it for the JSON output (nil when there is
// none, or no look was made). A user who may not SCAN gets no look.
func lookOutside(ctx context.Context, client *redisops.Client, sample *laneSample, scope resolvedScope, p *output.Printer) (*model.OutOfScope, error) {
	sets, complete, err := sample.outsideSets(scope)
	if err == nil && len(sets) > 0 {
		var o model.OutOfScope
		if o, err = outOfScope(ctx, client, scope, sets, complete); err == nil {
			p.OutOfScope(o)
			return &o, nil
		}
	}
	if err != nil && redisops.KindOf(err) != redisops.KindNoPerm {
		return nil, err
	}
	return nil, nil
}

// promoteEnd is what a finished run reports: its totals, how its batches
// were sized, whether --limit stopped it, what is still due (read again
// from the server when the run ended normally) and what was lost.
func promoteEnd(ctx context.Context, o promoteOptions, run *promote.Run, totals model.PromoteTotals, elapsed time.Duration, runErr error) output.PromoteEnd {
	end := output.PromoteEnd{Totals: totals, Elapsed: elapsed, Interrupted: ctx.Err() != nil, Limit: o.Run.Limit}
	if b := run.Batches(); b.Batches > 0 && !o.Run.DryRun {
		b.MaxStallMs = float64(o.Run.MaxStall) / float64(time.Millisecond)
		end.Batches = &b
	}
	done := totals.Promoted + totals.WouldPromote
	end.LimitReached = o.Run.Limit > 0 && done >= o.Run.Limit
	// What left the delayed sets (or would, in a dry run) is no longer due.
	gone := totals.Promoted + totals.Cleaned + totals.PromotedElsewhere + totals.Repaired + totals.WouldPromote + totals.WouldClean + totals.WouldRepair
	end.RemainingDue = max(0, run.Due-gone)
	lost := runErr != nil && !errors.Is(runErr, context.Canceled)
	if !o.Run.DryRun && !lost && run.Due > 0 && ctx.Err() == nil && len(o.Run.Executions) == 0 {
		// What is still due now, whoever else promoted meanwhile: one
		// more pipelined count per primary.
		if n, err := run.RemainingDue(ctx); err == nil {
			end.RemainingDue = n
		}
	}
	if lost {
		end.Lost = runErr.Error()
	}
	return end
}

func newProgressBar(total int64, desc string, p *output.Printer) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.ErrWriter()),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("exec"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
}
