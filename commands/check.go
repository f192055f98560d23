package commands

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/flowfabric/ffdelay/internal/metrics"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
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
			&cli.StringFlag{Name: flagMaxOverdue, Usage: "fail when the oldest due execution is older than `D`", Value: "60s"},
			&cli.StringFlag{Name: flagMaxDue, Usage: "fail when more than `N` executions are due (default: off)"},
			&cli.BoolFlag{Name: flagStrict, Usage: "turn warnings into failures"},
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
	o := checkOptions{MaxDue: -1, Strict: c.Bool(flagStrict)}
	if c.NArg() > 0 {
		return o, usageError("check takes no arguments, got %q", c.Args().First())
	}
	scope, err := parseScopeOptions(c, d)
	if err != nil {
		return o, err
	}
	o.Scope = scope
	if o.MaxOverdue, err = parseDuration("--max-overdue", c.String(flagMaxOverdue)); err != nil {
		return o, usageError("%v", err)
	}
	if s := c.String(flagMaxDue); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return o, usageError("--max-due %q must be a number >= 0", s)
		}
		o.MaxDue = n
	}
	return o, nil
}

// checkRun is one run of check: what the steps found so far. After the
// connection, the steps run at the same time, each waiting only for what
// it reads: libOK once libReady is closed, scope once scopeReady is,
// groups once groupsReady is (each closed even when its step fails).
type checkRun struct {
	o       checkOptions
	client  *redisops.Client
	printer *output.Printer
	checks  []output.Check
	libOK   bool
	scope   resolvedScope
	groups  []model.Group
	sample  *laneSample

	libReady, scopeReady, groupsReady chan struct{}
	scopeOK, groupsOK                 bool

	// registry is read beside the connection check on a single server
	// (its pipeline asks INFO cluster too): done is closed when it is in.
	registry struct {
		done   chan struct{}
		client *redisops.Client
		reg    redisops.Registry
		err    error
	}
}

// waitScope waits for the scope; false when it could not be read.
func (k *checkRun) waitScope() bool {
	<-k.scopeReady
	return k.scopeOK
}

// waitGroups waits for the groups' figures; false when they could not be
// read.
func (k *checkRun) waitGroups() bool {
	<-k.groupsReady
	return k.groupsOK
}

// errNotRun stands for a step that waited for an earlier one that could
// not run; the report stops at the earlier one and never shows it.
var errNotRun = errors.New("an earlier check could not run")

// checkStep runs one check. It returns the check (with its own verdict) or
// an error when the step could not run at all; the names are the
// contract's.
type checkStep struct {
	name string
	run  func(ctx context.Context, k *checkRun) (output.Check, error)
	// discover marks steps that only run with --discover-lanes.
	discover bool
}

// checkSteps are check's steps, in the contract's order.
var checkSteps = []checkStep{
	{name: "connection", run: checkConnection},
	{name: "server_version", run: checkServerVersion},
	{name: "library", run: checkLibrary},
	{name: "ff_version", run: checkFFVersion},
	{name: "partitions_config", run: checkPartitionsConfig},
	{name: "lanes", run: checkLanes},
	{name: "overdue", run: checkOverdue},
	{name: "due", run: checkDue},
	{name: "stuck", run: checkStuck},
	{name: "permissions", run: checkPermissions},
	{name: "unregistered_lanes", run: checkUnregisteredLanes},
	{name: "partitions_beyond_count", run: checkPartitionsBeyondCount, discover: true},
}

// runCheck runs every check and prints the report. Exit 1 when a check
// fails; 3 only when the server cannot be reached or refuses us.
func runCheck(ctx context.Context, o checkOptions, conn redisops.Options, p *output.Printer) error {
	started := time.Now()
	k := &checkRun{o: o, client: redisops.New(conn), printer: p,
		libReady: make(chan struct{}), scopeReady: make(chan struct{}), groupsReady: make(chan struct{})}
	defer func() { k.client.Close() }()
	type stepResult struct {
		check output.Check
		err   error
	}
	var steps []checkStep
	for _, step := range checkSteps {
		if !step.discover || o.Scope.Discover {
			steps = append(steps, step)
		}
	}
	results := make([]stepResult, len(steps))
	// The registry is read while the connection is checked; the connection
	// comes first in the report, and it may turn the client into a cluster
	// client (the registry is then read again, from the cluster). Then every
	// step runs at once, so check waits for the longest chain of round
	// trips, not for their sum.
	k.registry.done, k.registry.client = make(chan struct{}), k.client
	go func() {
		defer close(k.registry.done)
		k.registry.reg, k.registry.err = k.registry.client.ReadRegistry(ctx)
	}()
	results[0].check, results[0].err = steps[0].run(ctx, k)
	<-k.registry.done
	if results[0].err == nil {
		k.sample = sampleLanes(ctx, k.client, o.Scope)
		var wg sync.WaitGroup
		for i := 1; i < len(steps); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i].check, results[i].err = steps[i].run(ctx, k)
			}()
		}
		wg.Wait()
		if k.sample != nil {
			<-k.sample.done
		}
	}
	var stop error
	for i, step := range steps {
		c, err := results[i].check, results[i].err
		if err != nil {
			// A step that could not run is a failed check. Only a server
			// that cannot be reached or refuses our credentials exits 3;
			// anything else (a refused INFO, a key of the wrong type) is a
			// failed check, exit 1, and the later steps are not reported.
			k.checks = append(k.checks, output.CheckFailed(step.name, err))
			if unusable(err) {
				stop = err
			}
			break
		}
		if c.Status == output.Warn && o.Strict {
			c.Status = output.Fail
		}
		k.checks = append(k.checks, c)
	}
	if stop != nil {
		// A server ffdelay cannot use at all gets the same one line and
		// exit 3 as from every other command, not a report of one row;
		// with -o json or ndjson stdout still gets its document (ok false,
		// the check that could not pass), for the CI step that parses it.
		if p.Machine() {
			p.Checks(output.CheckReport{OK: false, Checks: k.checks})
		}
		if o.Scope.MetricsFile != "" {
			metrics.WriteMetrics(o.Scope.MetricsFile, metrics.MetricsRun{Command: "check", Started: started, Checks: k.checks})
		}
		return stop
	}
	r := output.CheckReport{OK: true, Checks: k.checks}
	for _, c := range k.checks {
		if c.Status == output.Fail {
			r.OK = false
		}
	}
	p.Checks(r)
	if o.Scope.MetricsFile != "" {
		if err := metrics.WriteMetrics(o.Scope.MetricsFile, metrics.MetricsRun{Command: "check", Started: started, Checks: r.Checks, Groups: k.groups}); err != nil && stop == nil {
			stop = err
		}
	}
	if stop == nil && !r.OK {
		return errSilentFailure
	}
	return stop
}

// unusable errors mean the server cannot be used at all: check stops with
// exit 3 and one line. A refused command or a missing library is a failed
// check instead (exit 1, with the report).
func unusable(err error) bool { return redisops.KindOf(err).Unusable() }
