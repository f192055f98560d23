package redisops

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// Inspect reads everything about each execution's delay: core, tags, which
// scheduling set holds it and with which score, then diagnoses it. lanes are
// the lanes to look in besides the one the core names. Per primary it costs
// one pipelined pass for all ids, and a second only for ids whose core names
// a lane outside lanes.
func (c *Client) Inspect(ctx context.Context, ids []model.ExecutionID, lanes []string, count int) ([]model.Inspection, error) {
	parts := make([]int, 0, len(ids))
	for _, id := range ids {
		parts = append(parts, id.Partition)
	}
	shards, err := c.shards(ctx, dedupe(parts))
	if err != nil {
		return nil, err
	}
	if err := c.readClocks(ctx, shards, nil); err != nil {
		return nil, err
	}
	out := make([]model.Inspection, len(ids))
	err = parallel(shards, func(sh *Shard) error {
		var mine []int
		for i, id := range ids {
			if containsInt(sh.partitions, id.Partition) {
				mine = append(mine, i)
				out[i] = model.Inspection{ExecutionID: id.Raw, Partition: id.Partition, ServerTimeMs: sh.nowMs}
			}
		}
		if err := c.inspectShard(ctx, sh, ids, mine, out, lanes); err != nil {
			return err
		}
		for _, i := range mine {
			Diagnose(&out[i], count)
		}
		return nil
	})
	return out, err
}

func dedupe(ps []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// setProbe is one id's scores in one lane's two scheduling sets.
type setProbe struct {
	i        int
	lane     string
	del, eli *redis.FloatCmd
}

func (c *Client) inspectShard(ctx context.Context, sh *Shard, ids []model.ExecutionID, mine []int, out []model.Inspection, lanes []string) error {
	cores := map[int]*redis.MapStringStringCmd{}
	tags := map[int]*redis.MapStringStringCmd{}
	probe := func(pairs map[int][]string, first bool) ([]setProbe, error) {
		var probes []setProbe
		_, err := sh.cmd.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range mine {
				id := ids[i]
				if first {
					cores[i] = p.HGetAll(ctx, CoreKey(id.Partition, id.Raw))
					tags[i] = p.HGetAll(ctx, TagsKey(id.Partition, id.Raw))
				}
				for _, l := range pairs[i] {
					probes = append(probes, setProbe{i, l,
						p.ZScore(ctx, DelayedKey(id.Partition, l), id.Raw),
						p.ZScore(ctx, EligibleKey(id.Partition, l), id.Raw)})
				}
			}
			return nil
		})
		if err != nil && !errNil(err) && kindOf(err) != KindOther {
			return nil, c.wrap(sh.addr, err)
		}
		return probes, nil
	}
	record := func(probes []setProbe) {
		for _, pr := range probes {
			ins := &out[pr.i]
			if s, err := pr.del.Result(); err == nil && !ins.InDelayed {
				ins.InDelayed, ins.DelayedScore, ins.Lane = true, &s, pr.lane
			}
			if s, err := pr.eli.Result(); err == nil && !ins.InEligible {
				ins.InEligible, ins.EligibleScore = true, &s
				if ins.Lane == "" {
					ins.Lane = pr.lane
				}
			}
		}
	}
	all := map[int][]string{}
	for _, i := range mine {
		all[i] = lanes
	}
	probes, err := probe(all, true)
	if err != nil {
		return err
	}
	record(probes)
	// The core names the lane it belongs to; look there too when the
	// scope did not include it.
	extra := map[int][]string{}
	for _, i := range mine {
		ins := &out[i]
		if err := cores[i].Err(); err != nil && !errNil(err) {
			return c.wrap(sh.addr, fmt.Errorf("reading %s: %w", CoreKey(ins.Partition, ins.ExecutionID), err))
		}
		ins.Core, ins.Tags = cores[i].Val(), tags[i].Val()
		if len(ins.Core) == 0 {
			ins.Core = nil
		}
		if len(ins.Tags) == 0 {
			ins.Tags = nil
		}
		for _, f := range []string{"lane_id", "current_lane"} {
			if l := ins.Core[f]; l != "" && !contains(lanes, l) && !contains(extra[i], l) && model.ValidateLane(l) == nil {
				extra[i] = append(extra[i], l)
			}
		}
	}
	if len(extra) > 0 {
		probes, err := probe(extra, false)
		if err != nil {
			return err
		}
		record(probes)
	}
	for _, i := range mine {
		ins := &out[i]
		if ins.Lane == "" {
			ins.Lane = firstNonEmpty(ins.Core["current_lane"], ins.Core["lane_id"])
		}
		ins.Found = ins.Core != nil || ins.InDelayed || ins.InEligible
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Diagnose writes a one-line diagnosis of an inspected execution and marks
// the states the engine cannot get out of by itself as stuck.
func Diagnose(ins *model.Inspection, count int) {
	now := ins.ServerTimeMs
	var d string
	core := ins.Core
	du := strings.TrimSpace(core["delay_until"])
	duMs, duErr := strconv.ParseFloat(du, 64)
	switch {
	case !ins.Found:
		d = "not found: no core and in no scheduling set"
	case core == nil && ins.InDelayed:
		d = "stale index entry with no core: the next promotion removes it (not_found_cleaned)"
	case core == nil:
		d = "stale eligible entry with no core"
	case ins.InDelayed && core["lifecycle_phase"] != "runnable":
		d = fmt.Sprintf("in the delayed set but lifecycle_phase is %q: the next promotion removes it (not_runnable_cleaned)", core["lifecycle_phase"])
	case ins.InDelayed && core["eligibility_state"] != "not_eligible_until_time":
		d = fmt.Sprintf("already eligible (eligibility_state %q) but in the delayed set: the next promotion removes it and leaves it in no scheduling set", core["eligibility_state"])
		ins.Stuck = true
	case ins.InDelayed && du == "":
		d = "stuck: in the delayed set without delay_until: the engine's promoter fails on it forever"
		ins.Stuck = true
	case ins.InDelayed && duErr != nil:
		d = fmt.Sprintf("stuck: delay_until %q is not a number: the engine's promoter fails on it forever", du)
		ins.Stuck = true
	case ins.InDelayed && duMs <= float64(now):
		d = "due: overdue by " + HumanDuration(time.Duration(now-int64(duMs))*time.Millisecond)
	case ins.InDelayed:
		d = fmt.Sprintf("delayed until %d (in %s)", int64(duMs), HumanDuration(time.Duration(int64(duMs)-now)*time.Millisecond))
		if ins.DelayedScore != nil && *ins.DelayedScore <= float64(now) {
			d += "; its score says due, so it occupies the engine's 50-entry window until then"
		}
	case ins.InEligible:
		d = "already eligible: waiting for a worker"
	case core["lifecycle_phase"] == "terminal":
		d = fmt.Sprintf("terminal (%s): not scheduled", core["terminal_outcome"])
	case core["lifecycle_phase"] == "active":
		d = "active: leased by a worker, not scheduled"
	case core["lifecycle_phase"] == "suspended":
		d = "suspended: not scheduled until resumed"
	case core["eligibility_state"] == "eligible_now" || core["eligibility_state"] == "not_eligible_until_time":
		d = fmt.Sprintf("in no scheduling set although %s: no worker will claim it and no promoter will see it", core["eligibility_state"])
		ins.Stuck = true
	default:
		d = fmt.Sprintf("in no scheduling set (%s, %s)", core["lifecycle_phase"], core["eligibility_state"])
	}
	if ins.Partition >= count {
		d += fmt.Sprintf("; partition %d is beyond the configured count %d, so the engine never scans it", ins.Partition, count)
		if ins.InDelayed {
			ins.Stuck = true
		}
	}
	ins.Diagnosis = d
}

// HumanDuration prints a duration the way on-call engineers read it:
// 850ms, 4m12s, 3h5m, 2d4h.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(float64(d.Milliseconds()/100)/10, 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
