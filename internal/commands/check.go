package commands

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/output"
	"github.com/flowfabric/ffdelay/internal/redisops"
	"github.com/urfave/cli/v2"
)

// checkOptions are check's parsed flags.
type checkOptions struct {
	Scope      scopeOptions
	MaxOverdue time.Duration
	MaxDue     int64 // -1: off
	Strict     bool
}

// ffReleases maps the ff_version answers of released FlowFabric libraries
// to the releases that ship them.
var ffReleases = map[string]string{
	"15": "0.3.x-0.5.x",
	"26": "0.6-0.9",
	"27": "0.10-0.11",
	"28": "0.12",
	"31": "0.13",
	"34": "0.14-0.15",
}

// stuckSample bounds how many due members per group check reads cores of.
const stuckSample = 20

func newCheckCommand(ctx context.Context, d *deps) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "health check of delayed promotion for CI and monitoring (exit 1 on failure)",
		UsageText: `ffdelay check [options]

Examples:
   ffdelay check                                 after a deploy: library loaded, nothing overdue
   ffdelay check --max-overdue 2m --max-due 1000 -o json
   ffdelay check --discover-lanes --strict       also fail on unregistered lanes and stuck entries`,
		Flags: append(scopeFlags(),
			&cli.StringFlag{Name: "max-overdue", Usage: "fail when the oldest due execution is older than `D`", Value: "60s"},
			&cli.StringFlag{Name: "max-due", Usage: "fail when more than `N` executions are due (default: off)"},
			&cli.BoolFlag{Name: "strict", Usage: "turn warnings into failures"},
		),
		Action: func(c *cli.Context) error {
			if err := setupOutput(c, d); err != nil {
				return err
			}
			opts, err := parseCheckOptions(c, d)
			if err != nil {
				return err
			}
			conn, err := connOptions(c, d)
			if err != nil {
				return err
			}
			return runCheck(ctx, opts, conn, d.printer)
		},
	}
}

func parseCheckOptions(c *cli.Context, d *deps) (checkOptions, error) {
	o := checkOptions{MaxDue: -1, Strict: c.Bool("strict")}
	if c.NArg() > 0 {
		return o, usageError("check takes no arguments, got %q", c.Args().First())
	}
	scope, err := parseScopeOptions(c, d)
	if err != nil {
		return o, err
	}
	o.Scope = scope
	if o.MaxOverdue, err = ParseDuration("--max-overdue", c.String("max-overdue")); err != nil {
		return o, usageError("%v", err)
	}
	if s := c.String("max-due"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return o, usageError("--max-due %q must be a number >= 0", s)
		}
		o.MaxDue = n
	}
	return o, nil
}

// checker collects checks in the contract's order.
type checker struct {
	checks []output.Check
	strict bool
}

func (k *checker) add(name string, s output.Status, format string, args ...any) {
	if s == output.Warn && k.strict {
		s = output.Fail
	}
	k.checks = append(k.checks, output.Check{Name: name, Status: s, Detail: fmt.Sprintf(format, args...)})
}

func (k *checker) report() output.CheckReport {
	r := output.CheckReport{OK: true, Checks: k.checks}
	for _, c := range k.checks {
		if c.Status == output.Fail {
			r.OK = false
		}
	}
	return r
}

// runCheck runs every check and prints the report. Exit 1 when a check
// fails; 3 only when the server cannot be reached or refuses us.
func runCheck(ctx context.Context, o checkOptions, conn redisops.Options, p *output.Printer) error {
	started := time.Now()
	k := &checker{strict: o.Strict}
	finish := func(err error) error {
		r := k.report()
		p.Checks(r)
		if o.Scope.MetricsFile != "" {
			if merr := writeMetrics(o.Scope.MetricsFile, metricsRun{command: "check", started: started, checks: r.Checks}); merr != nil && err == nil {
				err = merr
			}
		}
		if err == nil && !r.OK {
			return errSilentFailure
		}
		return err
	}
	client := redisops.New(conn)
	defer client.Close()
	if err := client.Ping(ctx); err != nil {
		k.add("connection", output.Fail, "%v", err)
		return finish(err)
	}
	// failed records a step that could not run as a failed check. Only a
	// server that cannot be reached or refuses our credentials makes it
	// exit 3; anything else (a refused INFO, a key of the wrong type) is a
	// failed check, exit 1.
	failed := func(name string, err error) error {
		k.add(name, output.Fail, "%v", err)
		if kind := redisops.KindOf(err); kind == redisops.KindUnreachable || kind == redisops.KindAuth {
			return finish(err)
		}
		return finish(nil)
	}
	mode := "standalone"
	if client.IsCluster() {
		mode = "cluster"
	}
	k.add("connection", output.Pass, "connected to %s (%s)", client.Addr(), mode)

	versions, err := client.Versions(ctx)
	if err != nil {
		return failed("server_version", err)
	}
	var old, seen []string
	for _, v := range versions {
		seen = append(seen, v.Product+" "+v.Version)
		if v.Product != "valkey" && v.Major < 7 {
			old = append(old, v.Addr+" runs "+v.Product+" "+v.Version)
		}
	}
	if len(old) > 0 {
		k.add("server_version", output.Fail, "no FUNCTION support (needs Redis >= 7.0 or Valkey): %s", strings.Join(old, "; "))
	} else {
		k.add("server_version", output.Pass, "%s", strings.Join(dedupeStrings(seen), ", "))
	}

	libs, err := client.Libraries(ctx, nil)
	if err != nil {
		return failed("library", err)
	}
	var missing []string
	libOK := true
	for _, l := range libs {
		switch {
		case l.Err != nil:
			missing = append(missing, fmt.Sprintf("%s (%v)", l.Addr, l.Err))
		case !l.Loaded:
			missing = append(missing, l.Addr+" has no flowfabric library")
		case !l.HasFunction(redisops.PromoteFunction):
			missing = append(missing, l.Addr+" lacks "+redisops.PromoteFunction)
		}
	}
	if len(missing) > 0 {
		libOK = false
		k.add("library", output.Fail, "%s: start ff-server once so it loads the library", strings.Join(missing, "; "))
	} else {
		k.add("library", output.Pass, "flowfabric with %s on %d primaries", redisops.PromoteFunction, len(libs))
	}
	if libOK {
		v, err := client.FFVersion(ctx)
		switch {
		case err != nil && redisops.KindOf(err) == redisops.KindNoPerm:
			// ff_version is not flagged read-only, so a read-only ACL user
			// cannot call it (FCALL_RO fails too).
			k.add("ff_version", output.Warn, "not checked: this user may not run FCALL (a read-only user cannot call ff_version)")
		case err != nil:
			k.add("ff_version", output.Fail, "ff_version failed: %v", err)
		case ffReleases[v] != "":
			k.add("ff_version", output.Pass, "%s (FlowFabric %s)", v, ffReleases[v])
		default:
			k.add("ff_version", output.Warn, "%s is not a known FlowFabric release (known: 15, 26, 27, 28, 31, 34)", v)
		}
	} else {
		k.add("ff_version", output.Fail, "not callable: the library is missing")
	}

	scope, err := resolveScope(ctx, client, o.Scope, output.Discard())
	if err != nil {
		return failed("partitions_config", err)
	}
	cfg := scope.Registry.Config
	switch {
	case cfg.Valid:
		k.add("partitions_config", output.Pass, "%d partitions", cfg.Count)
	case cfg.Found:
		k.add("partitions_config", output.Warn, "%s num_flow_partitions is %q; FlowFabric falls back to 256 (using %d from %s)", redisops.ConfigKey, cfg.Raw, scope.Count, scope.CountSource)
	default:
		k.add("partitions_config", output.Warn, "%s is missing; FlowFabric falls back to 256 (using %d from %s)", redisops.ConfigKey, scope.Count, scope.CountSource)
	}
	if scope.Registry.LanesFound {
		k.add("lanes", output.Pass, "%d registered: %s", len(scope.Registry.Lanes), short(scope.Registry.Lanes, 10))
	} else {
		k.add("lanes", output.Warn, "%s is missing (FlowFabric before 0.6?); checking %s", redisops.LanesKey, short(scope.Lanes, 10))
	}

	run, err := client.NewList(ctx, scope.Scope, scope.Registry.Snapshot)
	if err != nil {
		return failed("overdue", err)
	}
	groups, err := run.Groups(ctx, stuckSample)
	if err != nil {
		return failed("overdue", err)
	}
	var due, worst int64
	var worstGroup model.Group
	var sample []redisops.DelayedEntry
	for _, g := range groups {
		due += g.Due
		if g.MaxOverdueMs > worst {
			worst, worstGroup = g.MaxOverdueMs, g
		}
		for _, e := range g.Executions {
			sample = append(sample, redisops.DelayedEntry{Partition: g.Partition, Lane: g.Lane, ExecutionID: e.ExecutionID})
		}
	}
	worstAge := time.Duration(worst) * time.Millisecond
	if worstAge > o.MaxOverdue {
		k.add("overdue", output.Fail, "oldest due execution is %s overdue (partition %d, lane %s); limit %s",
			redisops.HumanDuration(worstAge), worstGroup.Partition, worstGroup.Lane, redisops.HumanDuration(o.MaxOverdue))
	} else if worst > 0 {
		k.add("overdue", output.Pass, "oldest due execution is %s overdue; limit %s", redisops.HumanDuration(worstAge), redisops.HumanDuration(o.MaxOverdue))
	} else {
		k.add("overdue", output.Pass, "nothing overdue; limit %s", redisops.HumanDuration(o.MaxOverdue))
	}
	switch {
	case o.MaxDue >= 0 && due > o.MaxDue:
		k.add("due", output.Fail, "%d due; limit %d", due, o.MaxDue)
	case o.MaxDue >= 0:
		k.add("due", output.Pass, "%d due; limit %d", due, o.MaxDue)
	default:
		k.add("due", output.Pass, "%d due (no --max-due limit)", due)
	}
	stuck, err := client.FindStuck(ctx, sample)
	if err != nil {
		return failed("stuck", err)
	}
	if len(stuck) > 0 {
		var ex []string
		for _, s := range stuck {
			ex = append(ex, s.ExecutionID+" ("+s.Reason+")")
		}
		k.add("stuck", output.Warn, "%d of %d sampled due entries are stuck, e.g. %s; see ffdelay inspect", len(stuck), len(sample), short(ex, 3))
	} else {
		k.add("stuck", output.Pass, "none among %d sampled due entries", len(sample))
	}
	if o.Scope.Discover {
		var unreg []string
		for l := range scope.Unregistered {
			unreg = append(unreg, l)
		}
		sort.Strings(unreg)
		if len(unreg) > 0 {
			k.add("unregistered_lanes", output.Warn, "delayed sets exist for lanes not in %s (the engine never promotes them unless FF_LANES names them): %s", redisops.LanesKey, short(unreg, 10))
		} else {
			k.add("unregistered_lanes", output.Pass, "every lane with delayed sets is registered")
		}
		var beyond []string
		for _, f := range scope.Discovered {
			if f.Partition >= scope.Count {
				beyond = append(beyond, fmt.Sprintf("%d/%s", f.Partition, f.Lane))
			}
		}
		if len(beyond) > 0 {
			k.add("partitions_beyond_count", output.Fail, "delayed sets on partitions >= %d, never scanned by the engine: %s", scope.Count, short(beyond, 10))
		} else {
			k.add("partitions_beyond_count", output.Pass, "no delayed sets beyond partition %d", scope.Count-1)
		}
	}
	return finish(nil)
}

func short(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:n], ", ") + fmt.Sprintf(" and %d more", len(list)-n)
}

func dedupeStrings(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
