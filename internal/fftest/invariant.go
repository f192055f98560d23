package fftest

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// CheckInvariant verifies, after any scenario, that nothing was lost:
//   - every healthy execution (due, future, retry, stale score) is in
//     exactly one of its lane's delayed and eligible sets, and its core
//     agrees with that set (delayed: not_eligible_until_time/delayed;
//     eligible: eligible_now/waiting, empty delay_until, score
//     -(priority*1e12)+created_at);
//   - members ffdelay must never hand to the function (malformed, wrong
//     tag) and executions the function fails on (no delay_until) are still
//     in the delayed set;
//   - no execution is in both sets.
func CheckInvariant(ctx context.Context, c redis.Cmdable, seeded []Exec) error {
	type probe struct {
		del, eli *redis.FloatCmd
		core     *redis.SliceCmd
	}
	probes := make([]probe, len(seeded))
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range seeded {
			probes[i].del = p.ZScore(ctx, redisops.DelayedKey(e.Partition, e.Lane), e.ID)
			probes[i].eli = p.ZScore(ctx, redisops.EligibleKey(e.Partition, e.Lane), e.ID)
			probes[i].core = p.HMGet(ctx, redisops.CoreKey(e.Partition, e.ID), "eligibility_state", "public_state", "delay_until", "priority", "created_at")
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return err
	}
	var problems []string
	for i, e := range seeded {
		inDel := probes[i].del.Err() == nil
		inEli := probes[i].eli.Err() == nil
		vals, _ := probes[i].core.Result()
		field := func(j int) string {
			if j < len(vals) {
				s, _ := vals[j].(string)
				return s
			}
			return ""
		}
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("%s (%s, partition %d, lane %s): %s", e.ID, e.Shape, e.Partition, e.Lane, fmt.Sprintf(format, args...)))
		}
		if inDel && inEli {
			bad("in both the delayed and the eligible set")
			continue
		}
		switch e.Shape {
		case PastEligible:
			// Misindexed: it must stay delayed until repaired, then be
			// eligible; never in neither.
			if !inDel && !inEli {
				bad("stranded: in no scheduling set")
			}
		case Due, Future, Retry, StaleScore, Duplicate:
			switch {
			case !inDel && !inEli:
				bad("in no scheduling set")
			case inDel && (field(0) != "not_eligible_until_time" || field(1) != "delayed"):
				bad("in the delayed set but core says %s/%s", field(0), field(1))
			case inEli && (field(0) != "eligible_now" || field(1) != "waiting" || field(2) != ""):
				bad("in the eligible set but core says %s/%s delay_until=%q", field(0), field(1), field(2))
			case inEli:
				prio, _ := strconv.ParseFloat(field(3), 64)
				created, _ := strconv.ParseFloat(field(4), 64)
				if want := 0 - prio*1e12 + created; probes[i].eli.Val() != want {
					bad("eligible score %v, want %v", probes[i].eli.Val(), want)
				}
			}
		case realShape:
			// Created by FlowFabric's own functions: runnable, so it must be
			// in exactly one set. The delayed set may still hold one that
			// needs repair (eligible_now, or no delay_until): reported, not
			// lost. The eligible set must agree with the core.
			switch {
			case !inDel && !inEli:
				bad("in no scheduling set (core says %s/%s)", field(0), field(1))
			case inEli && (field(0) != "eligible_now" || field(2) != ""):
				bad("in the eligible set but core says %s delay_until=%q", field(0), field(2))
			case inEli:
				prio, _ := strconv.ParseFloat(field(3), 64)
				created, _ := strconv.ParseFloat(field(4), 64)
				if want := 0 - prio*1e12 + created; probes[i].eli.Val() != want {
					bad("eligible score %v, want %v", probes[i].eli.Val(), want)
				}
			}
		case NoDelayUntil:
			// Only a repair may move it: then it is eligible, with a
			// delay_until the repair wrote.
			switch {
			case !inDel && !inEli:
				bad("stranded: in no scheduling set")
			case inEli && field(0) != "eligible_now":
				bad("in the eligible set but core says %s", field(0))
			}
		case Malformed, WrongTag:
			if !inDel {
				bad("left the delayed set, but nothing may promote or clean it")
			}
		}
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("... and %d more", len(problems)-10))
		}
		return fmt.Errorf("%d problems:\n%s", len(problems), strings.Join(problems, "\n"))
	}
	return nil
}

// realShape marks executions created through the real functions.
const realShape Shape = "real"

// CheckRealInvariant is CheckInvariant for executions created through a
// real library's functions (all runnable).
func CheckRealInvariant(ctx context.Context, c redis.Cmdable, execs []*RealExec) error {
	seeded := make([]Exec, len(execs))
	for i, e := range execs {
		seeded[i] = Exec{ID: e.ID, Partition: e.Partition, Lane: e.Lane, Shape: realShape}
	}
	return CheckInvariant(ctx, c, seeded)
}
