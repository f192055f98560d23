package commands

import (
	"context"
	"strconv"
	"time"

	"github.com/flowfabric/ffdelay/internal/metrics"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/urfave/cli/v2"
)

// listOptions are list's parsed flags.
type listOptions struct {
	Scope      scopeOptions
	All        bool
	Executions bool
	Limit      int
}

func newListCommand(ctx context.Context, d *deps) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "show due delayed executions per partition and lane (read-only)",
		UsageText: `ffdelay list [options]

Examples:
   ffdelay list                                  groups with due executions
   ffdelay list --all --lane payments            every non-empty group of a lane
   ffdelay list --executions --limit 5 -o json   the 5 oldest due executions per group`,
		Flags: append(scopeFlags(),
			&cli.BoolFlag{Name: flagAll, Usage: "show every non-empty group, not only those with due executions"},
			&cli.BoolFlag{Name: flagExecutions, Usage: "also list due executions, oldest first"},
			&cli.StringFlag{Name: flagLimit, Usage: "at most `N` executions per group with --executions", Value: "20"},
		),
		Action: clientAction(ctx, d, parseListOptions, runList),
	}
}

func parseListOptions(c *cli.Context, d *deps) (listOptions, error) {
	if c.NArg() > 0 {
		return listOptions{}, usageError("list takes no arguments, got %q", c.Args().First())
	}
	scope, err := parseScopeOptions(c, d)
	if err != nil {
		return listOptions{}, err
	}
	o := listOptions{Scope: scope, All: c.Bool(flagAll), Executions: c.Bool(flagExecutions)}
	n, err := strconv.Atoi(c.String(flagLimit))
	if err != nil || n < 1 {
		return o, usageError("--limit %q must be a positive number", c.String(flagLimit))
	}
	o.Limit = n
	return o, nil
}

// runList reads every group in scope and prints those with due executions
// (all non-empty ones with --all). It sends no FCALL and no write.
func runList(ctx context.Context, o listOptions, client *redisops.Client, p *output.Printer) error {
	started := time.Now()
	sample := sampleLanes(ctx, client, o.Scope)
	if sample != nil {
		// Waited for below: its connection is not left behind on an error.
		defer func() { <-sample.done }()
	}
	scope, err := resolveScope(ctx, client, o.Scope, p)
	if err != nil {
		return err
	}
	run, err := client.NewList(ctx, scope.Scope, scope.Registry.Snapshot)
	if err != nil {
		return err
	}
	execs := 0
	if o.Executions {
		execs = o.Limit
	}
	groups, err := run.Groups(ctx, execs)
	if err != nil {
		return err
	}
	delayed := map[string]int64{}
	for _, g := range groups {
		delayed[g.Lane] += g.Delayed
	}
	noData := warnEmptyScope(p, o.Scope, scope, delayed)
	w := p.BeginList(output.ListHeader{ServerTimeMs: run.ServerTimeMs, Partitions: scope.Count, Lanes: scope.allLanes(), Executions: o.Executions,
		Scanned: len(scope.AllPartitions()), NoData: noData})
	var totals model.ListTotals
	for _, g := range groups {
		totals.Delayed += g.Delayed
		totals.Due += g.Due
		totals.Misplaced += g.Misplaced
		if g.Due > 0 || o.All {
			totals.Groups++
			w.Group(g)
		}
	}
	w.End(totals)
	if !noData {
		if err := sample.warn(p, scope); err != nil {
			return err
		}
	}
	if o.Scope.MetricsFile != "" {
		return metrics.WriteMetrics(o.Scope.MetricsFile, metrics.MetricsRun{Command: "list", Started: started, Groups: groups})
	}
	return nil
}
