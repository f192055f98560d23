package commands

import (
	"context"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/urfave/cli/v2"
)

// inspectOptions are inspect's parsed arguments.
type inspectOptions struct {
	IDs []model.ExecutionID
	// UUIDs are bare uuids, as logs show them: their partition is looked
	// up.
	UUIDs []string
	Scope scopeOptions
}

func newInspectCommand(ctx context.Context, d *deps) *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "explain one or more executions' delay: core, tags, scheduling sets, diagnosis",
		ArgsUsage: "ID...",
		UsageText: `ffdelay inspect [options] ID...

An ID is {fp:N}:<uuid>, or the bare uuid (its partition is looked up:
one pipelined check per partition).

Examples:
   ffdelay inspect '{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11'
   ffdelay inspect 0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11
   ffdelay inspect -o json '{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11' '{fp:12}:...'`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: flagLane, Usage: "also look in lane `NAME`'s sets (default: the core's lane, ff:idx:lanes, $FF_LANES, default)"},
			&cli.StringFlag{Name: flagPartitions, Usage: "partition count `N` (default: ff:config:partitions, then $FF_FLOW_PARTITIONS, then 256)"},
		},
		Action: clientAction(ctx, d, parseInspectOptions, runInspect),
	}
}

func parseInspectOptions(c *cli.Context, d *deps) (inspectOptions, error) {
	var o inspectOptions
	if c.NArg() == 0 {
		return o, usageError("inspect needs at least one execution id, like '{fp:7}:<uuid>'")
	}
	for _, a := range c.Args().Slice() {
		if model.IsUUID(a) {
			o.UUIDs = append(o.UUIDs, a)
			continue
		}
		id, err := model.ParseExecutionID(a)
		if err != nil {
			return o, usageError("%v (or a bare uuid)", err)
		}
		o.IDs = append(o.IDs, id)
	}
	scope, err := parseScopeOptions(c, d)
	if err != nil {
		return o, err
	}
	o.Scope = scope
	return o, nil
}

// runInspect reads and diagnoses each execution; an id that is nowhere makes
// the exit code 1.
func runInspect(ctx context.Context, o inspectOptions, client *redisops.Client, p *output.Printer) error {
	scope, err := resolveScope(ctx, client, o.Scope, p)
	if err != nil {
		return err
	}
	ids := o.IDs
	var missing []model.Inspection
	byUUID, err := client.FindUUIDs(ctx, o.UUIDs, scope.Partitions)
	if err != nil {
		return err
	}
	for _, u := range o.UUIDs {
		found := byUUID[u]
		for _, id := range found {
			p.Note("%s is %s (found in partition %d of %d)", u, id.Raw, id.Partition, scope.Count)
		}
		if len(found) == 0 {
			missing = append(missing, output.UUIDNotFound(u, scope.Count))
		}
		ids = append(ids, found...)
	}
	list, err := client.Inspect(ctx, ids, scope.allLanes())
	if err != nil {
		return err
	}
	registered := set(scope.Registry.Lanes)
	isRegistered := func(lane string) bool { return !scope.Registry.LanesFound || registered[lane] }
	for i := range list {
		output.Diagnose(&list[i], scope.Count, isRegistered, verdict(list[i]))
	}
	list = append(list, missing...)
	p.Inspect(list)
	for _, ins := range list {
		if !ins.Found {
			return errSilentFailure
		}
	}
	return nil
}

// verdict is the engine's classification of an inspected execution's
// delayed entry: the same rules promote, check and the standby use.
func verdict(ins model.Inspection) output.Verdict {
	field := func(f string) (string, bool) {
		v, ok := ins.Core[f]
		return v, ok
	}
	var v redisops.CoreView
	v.Exists = ins.Core != nil
	v.Phase, _ = field("lifecycle_phase")
	v.Eligibility, _ = field("eligibility_state")
	v.Ownership, _ = field("ownership_state")
	v.DelayUntil, v.DelayUntilSet = field("delay_until")
	v.Priority, v.PrioritySet = field("priority")
	v.CreatedAt, v.CreatedAtSet = field("created_at")
	v.Lane, _ = field("lane_id")
	v.WrongLane = v.Lane != "" && v.Lane != ins.Lane
	v.InEligible = ins.InEligible
	o, detail := promote.Decide(v, ins.ServerTimeMs)
	return output.Verdict{Outcome: o, Detail: detail}
}
