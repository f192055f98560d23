package redisops

import (
	"context"
	"fmt"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// auditScanCount is the COUNT hint of one SSCAN step of all_executions.
const auditScanCount = 1000

// CountExecutions reads SCARD of each partition's all_executions (one
// pipeline), for a progress bar.
func (c *Client) CountExecutions(ctx context.Context, sh *Shard, partitions []int) (int64, error) {
	cmds := make([]*redis.IntCmd, len(partitions))
	err := c.pipeline(ctx, sh.addr, sh.cmd, func(p redis.Pipeliner) error {
		for i, part := range partitions {
			cmds[i] = p.SCard(ctx, AllExecutionsKey(part))
		}
		return nil
	})
	if err != nil && kindOf(err) != KindOther {
		return 0, c.wrap(sh.addr, err)
	}
	var n int64
	for _, cmd := range cmds {
		n += cmd.Val()
	}
	return n, nil
}

// ScanExecutions reads one SSCAN step of a partition's all_executions; next
// is 0 when the walk is complete.
func (c *Client) ScanExecutions(ctx context.Context, sh *Shard, partition int, cursor uint64) (members []string, next uint64, err error) {
	members, next, err = sh.cmd.SScan(ctx, AllExecutionsKey(partition), cursor, "", auditScanCount).Result()
	if err != nil {
		return nil, 0, c.wrap(sh.addr, err)
	}
	return members, next, nil
}

// ExecutionView is an execution's core and where its lane's scheduling
// sets hold it.
type ExecutionView struct {
	ID                                        model.ExecutionID
	Exists                                    bool
	Phase, Eligibility, Ownership, DelayUntil string
	Lane                                      string
	InDelayed, InEligible                     bool
	Err                                       error
}

// ReadExecutions reads the cores of ids (one pipeline), then their lanes'
// delayed and eligible sets (a second one).
func (c *Client) ReadExecutions(ctx context.Context, sh *Shard, ids []model.ExecutionID) ([]ExecutionView, error) {
	fields := make([]*redis.SliceCmd, len(ids))
	err := c.pipeline(ctx, sh.addr, sh.cmd, func(p redis.Pipeliner) error {
		for i, id := range ids {
			fields[i] = p.HMGet(ctx, CoreKey(id.Partition, id.Raw), "lifecycle_phase", "eligibility_state", "ownership_state", "delay_until", "lane_id")
		}
		return nil
	})
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return nil, c.wrap(sh.addr, err)
	}
	out := make([]ExecutionView, len(ids))
	for i, id := range ids {
		v := &out[i]
		v.ID = id
		vals, err := fields[i].Result()
		if err == nil && len(vals) != 5 {
			err = fmt.Errorf("HMGET answered %d values for 5 fields", len(vals))
		}
		if err != nil {
			v.Err = fmt.Errorf("cannot read core: %w", err)
			continue
		}
		v.Phase, v.Eligibility, v.Ownership, v.DelayUntil, v.Lane = str(vals[0]), str(vals[1]), str(vals[2]), str(vals[3]), str(vals[4])
		v.Exists = v.Phase != "" || v.Eligibility != "" || v.Lane != ""
	}
	del := make([]*redis.FloatCmd, len(ids))
	eli := make([]*redis.FloatCmd, len(ids))
	err = c.pipeline(ctx, sh.addr, sh.cmd, func(p redis.Pipeliner) error {
		for i, v := range out {
			if v.Err == nil && v.Exists && model.ValidateLane(v.Lane) == nil {
				del[i] = p.ZScore(ctx, DelayedKey(v.ID.Partition, v.Lane), v.ID.Raw)
				eli[i] = p.ZScore(ctx, EligibleKey(v.ID.Partition, v.Lane), v.ID.Raw)
			}
		}
		return nil
	})
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return nil, c.wrap(sh.addr, err)
	}
	for i := range out {
		if del[i] == nil {
			continue
		}
		for _, cmd := range []*redis.FloatCmd{del[i], eli[i]} {
			if err := cmd.Err(); err != nil && !errNil(err) {
				out[i].Err = fmt.Errorf("cannot read the lane's sets: %w", err)
			}
		}
		out[i].InDelayed, out[i].InEligible = del[i].Err() == nil, eli[i].Err() == nil
	}
	return out, nil
}
