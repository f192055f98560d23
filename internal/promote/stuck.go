package promote

import (
	"context"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

// Stuck is what a bounded dry run found stuck among the due entries:
// check's stuck step and top's footer both report it.
type Stuck struct {
	// Due is what was due when the dry run was planned; Examined how many
	// entries it classified (at most the bound).
	Due, Examined int64
	// Repairable: shapes promote --repair fixes; Failing: entries the
	// function fails on, or that ffdelay will not hand to it.
	Repairable, Failing int64
	// Examples are the first few stuck entries' results.
	Examples []model.Result
	// Bounded: the dry run stopped at its bound before the last due entry.
	Bounded bool
}

// maxStuckExamples bounds Stuck.Examples.
const maxStuckExamples = 3

// FindStuck classifies up to bound due entries in scope as promote would,
// reading only, and counts those the engine's promoter cannot resolve.
func FindStuck(ctx context.Context, c *redisops.Client, scope model.Scope, snap *redisops.Snapshot, bound int64) (Stuck, error) {
	run, err := Plan(ctx, c, Options{Scope: scope, DryRun: true, MaxExamined: bound, Snapshot: snap})
	if err != nil {
		return Stuck{}, err
	}
	s := Stuck{Due: run.Due}
	err = run.Execute(ctx, func(r model.Result) {
		s.Examined++
		switch r.Outcome {
		case model.WouldRepair:
			s.Repairable++
		case model.WouldFail, model.Failed, model.Unrepairable:
			s.Failing++
		default:
			return
		}
		if len(s.Examples) < maxStuckExamples {
			s.Examples = append(s.Examples, r)
		}
	})
	s.Bounded = run.StoppedEarly()
	return s, err
}
