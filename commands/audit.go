package commands

import (
	"context"
	"errors"
	"time"

	"github.com/flowfabric/ffdelay/internal/audit"
	"github.com/flowfabric/ffdelay/internal/metrics"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

// auditOptions are audit's parsed flags.
type auditOptions struct {
	Scope       scopeOptions
	Repair      bool
	Progress    bool
	ProgressMin int64
}

func newAuditCommand(ctx context.Context, d *deps) *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "find runnable executions that are in no scheduling set, or in both (read-only unless --repair)",
		UsageText: `ffdelay audit [options]

Walks every partition's ff:idx:{fp:N}:all_executions and compares each
runnable execution's core with its lane's delayed and eligible sets:
  stranded      eligible_now and unowned, in no eligible set: no worker will claim it
  lost_delayed  not_eligible_until_time, in no delayed set: no promoter will see it
  duplicated    in both sets
Active, suspended and terminal executions are never touched. Exit 1 when
problems remain.

Examples:
   ffdelay audit                                 report, exit 1 if anything is found
   ffdelay audit --partition 0-15 -o ndjson      one line per finding
   ffdelay audit --repair                        re-index stranded and lost_delayed executions`,
		Flags: append(scopeFlags(),
			&cli.BoolFlag{Name: flagRepair, Usage: "re-index stranded and lost_delayed executions atomically (needs +watch +multi +exec)"},
			&cli.StringFlag{Name: flagProgress, Usage: "progress bar on stderr `WHEN`: auto (a terminal and a big keyspace), always or never", Value: "auto"},
		),
		Action: clientAction(ctx, d, parseAuditOptions, runAudit),
	}
}

func parseAuditOptions(c *cli.Context, d *deps) (auditOptions, error) {
	if c.NArg() > 0 {
		return auditOptions{}, usageError("audit takes no arguments, got %q", c.Args().First())
	}
	scope, err := parseScopeOptions(c, d)
	if err != nil {
		return auditOptions{}, err
	}
	o := auditOptions{Scope: scope, Repair: c.Bool(flagRepair)}
	if o.Progress, o.ProgressMin, err = progressMode(c, d, false); err != nil {
		return o, err
	}
	return o, nil
}

// runAudit walks the partitions in scope and reports (or repairs) every
// execution whose scheduling sets disagree with its core.
func runAudit(ctx context.Context, o auditOptions, client *redisops.Client, p *output.Printer) error {
	started := time.Now()
	scope, err := resolveScope(ctx, client, o.Scope, p)
	if err != nil {
		return err
	}
	ao := audit.Options{Scope: scope.Scope, Repair: o.Repair}
	if len(o.Scope.Lanes) > 0 {
		ao.Lanes = o.Scope.Lanes
	}
	walk, err := audit.Plan(ctx, client, ao)
	if err != nil {
		return err
	}
	var bar *progressbar.ProgressBar
	if o.Progress && walk.Total > 0 && walk.Total >= o.ProgressMin {
		bar = newProgressBar(walk.Total, "auditing", p)
	}
	w := p.BeginAudit(output.AuditHeader{ServerTimeMs: walk.ServerTimeMs, Partitions: scope.Count, Repair: o.Repair})
	var totals model.AuditTotals
	scanned, runErr := walk.Run(ctx, func(f model.AuditFinding) {
		totals.Add(f)
		w.Finding(f)
	}, func(n int) {
		if bar != nil {
			bar.Add(n)
		}
	})
	if bar != nil {
		bar.Finish()
	}
	noData := false
	if runErr == nil && ctx.Err() == nil {
		noData = warnEmptyScope(p, o.Scope, scope, walk.Lanes())
	}
	w.End(output.AuditEnd{Scanned: scanned, Totals: totals, Scope: len(scope.Partitions), NoData: noData})
	if o.Scope.MetricsFile != "" {
		if err := metrics.WriteMetrics(o.Scope.MetricsFile, metrics.MetricsRun{Command: "audit", Started: started, Audit: &totals}); err != nil {
			return err
		}
	}
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		return runErr
	case totals.Remaining() > 0:
		return errSilentFailure
	}
	return nil
}
