package redisops

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// Inspect reads everything about each execution's delay: core, tags, which
// scheduling set holds it and with which score, then diagnoses it. lanes are
// the lanes to look in besides the one the core names. Per primary it costs
// one pipelined pass for all ids, and a second only for ids whose core names
// a lane outside lanes.
func (c *Client) Inspect(ctx context.Context, ids []model.ExecutionID, lanes []string) ([]model.Inspection, error) {
	parts := make([]int, 0, len(ids))
	for _, id := range ids {
		parts = append(parts, id.Partition)
	}
	shards, err := c.shards(ctx, slices.Compact(slices.Sorted(slices.Values(parts))))
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
			if slices.Contains(sh.partitions, id.Partition) {
				mine = append(mine, i)
				out[i] = model.Inspection{ExecutionID: id.Raw, Partition: id.Partition, ServerTimeMs: sh.nowMs}
			}
		}
		return c.inspectShard(ctx, sh, ids, mine, out, lanes)
	})
	return out, err
}

// FindUUIDs finds, for each uuid, the partitions among partitions whose
// core key holds the execution {fp:N}:uuid (the uuid as given, and in lower
// case): one pipelined pass of EXISTS for all of them, on the primaries
// that own the partitions, so the cost is bounded by the partitions and the
// uuids asked for, not by the data. Each uuid's ids are in partition order.
func (c *Client) FindUUIDs(ctx context.Context, uuids []string, partitions []int) (map[string][]model.ExecutionID, error) {
	if len(uuids) == 0 {
		return nil, nil
	}
	uuids = slices.Compact(slices.Sorted(slices.Values(uuids)))
	shards, err := c.shards(ctx, partitions)
	if err != nil {
		return nil, err
	}
	type probe struct {
		uuid string
		id   model.ExecutionID
	}
	var mu sync.Mutex
	found := map[string][]model.ExecutionID{}
	err = parallel(shards, func(sh *Shard) error {
		var probes []probe
		for _, p := range sh.partitions {
			for _, u := range uuids {
				for _, form := range slices.Compact([]string{u, strings.ToLower(u)}) {
					probes = append(probes, probe{uuid: u, id: model.ExecutionID{Partition: p, Raw: partitionTag(p) + ":" + form}})
				}
			}
		}
		cmds := make([]*redis.IntCmd, len(probes))
		for start := 0; start < len(probes); start += listChunk {
			end := min(start+listChunk, len(probes))
			if err := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
				for i := start; i < end; i++ {
					cmds[i] = p.Exists(ctx, CoreKey(probes[i].id.Partition, probes[i].id.Raw))
				}
				return nil
			}); err != nil {
				return err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for i, cmd := range cmds {
			if n, err := cmd.Result(); err == nil && n > 0 {
				found[probes[i].uuid] = append(found[probes[i].uuid], probes[i].id)
			}
		}
		return nil
	})
	for _, ids := range found {
		slices.SortFunc(ids, func(a, b model.ExecutionID) int { return a.Partition - b.Partition })
	}
	return found, err
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
		err := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
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
				sc := model.Score(s)
				ins.InDelayed, ins.DelayedScore, ins.Lane = true, &sc, pr.lane
			}
			if s, err := pr.eli.Result(); err == nil && !ins.InEligible {
				sc := model.Score(s)
				ins.InEligible, ins.EligibleScore = true, &sc
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
