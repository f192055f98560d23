package redisops

import (
	"context"
	"fmt"
	"strings"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// auditScanCount is the COUNT hint of one SSCAN step of all_executions.
const auditScanCount = 1000

// CountExecutions reads SCARD of each partition's all_executions (one
// pipeline), for a progress bar.
func (c *Client) CountExecutions(ctx context.Context, sh *Shard, partitions []int) (int64, error) {
	cmds := make([]*redis.IntCmd, len(partitions))
	err := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
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
	members, next, err = sh.node.SScan(ctx, AllExecutionsKey(partition), cursor, "", auditScanCount).Result()
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
	// OtherLanes are the other lanes in scope whose delayed or eligible
	// set holds it too.
	OtherLanes []string
	Err        error
}

// ReadExecutions reads the cores of ids (one pipeline), then their lanes'
// delayed and eligible sets, and those of the other lanes in scope (a
// second one).
func (c *Client) ReadExecutions(ctx context.Context, sh *Shard, ids []model.ExecutionID, lanes []string) ([]ExecutionView, error) {
	fields := make([]*redis.SliceCmd, len(ids))
	err := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
		for i, id := range ids {
			fields[i] = p.HMGet(ctx, CoreKey(id.Partition, id.Raw), auditFields...)
		}
		return nil
	})
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return nil, c.wrap(sh.addr, err)
	}
	out := make([]ExecutionView, len(ids))
	for i, id := range ids {
		out[i] = coreView(id, fields[i])
	}
	sets := make([]laneSets, len(ids))
	err = c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
		for i, v := range out {
			sets[i] = queueSets(ctx, p, v, lanes)
		}
		return nil
	})
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return nil, c.wrap(sh.addr, err)
	}
	for i := range out {
		sets[i].apply(&out[i])
	}
	return out, nil
}

// RecheckExecution reads one execution's core and sets again in a single
// MULTI/EXEC (nothing can run in between), or, for a user who may not run
// MULTI, in one more pipeline.
func (c *Client) RecheckExecution(ctx context.Context, sh *Shard, id model.ExecutionID, lane string, lanes []string) (ExecutionView, error) {
	var core *redis.SliceCmd
	var sets laneSets
	var v ExecutionView
	queue := func(p redis.Pipeliner) error {
		core = p.HMGet(ctx, CoreKey(id.Partition, id.Raw), auditFields...)
		// The lane the first read found, and every other lane in scope:
		// apply sorts them by the lane the core names now.
		all := []string{lane}
		for _, l := range lanes {
			if l != lane {
				all = append(all, l)
			}
		}
		sets = queueLanes(ctx, p, id, all)
		return nil
	}
	_, err := sh.node.TxPipelined(ctx, queue)
	if err != nil && (kindOf(err) == KindNoPerm || strings.Contains(err.Error(), "NOPERM")) {
		_, err = sh.node.Pipelined(ctx, queue)
	}
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return v, c.wrap(sh.addr, err)
	}
	v = coreView(id, core)
	sets.apply(&v)
	return v, nil
}

var auditFields = []string{"lifecycle_phase", "eligibility_state", "ownership_state", "delay_until", "lane_id"}

func coreView(id model.ExecutionID, cmd *redis.SliceCmd) ExecutionView {
	v := ExecutionView{ID: id}
	vals, err := cmd.Result()
	if err == nil && len(vals) != len(auditFields) {
		err = fmt.Errorf("HMGET answered %d values for %d fields", len(vals), len(auditFields))
	}
	if err != nil {
		v.Err = fmt.Errorf("cannot read core: %w", err)
		return v
	}
	v.Phase, v.Eligibility, v.Ownership, v.DelayUntil, v.Lane = str(vals[0]), str(vals[1]), str(vals[2]), str(vals[3]), str(vals[4])
	v.Exists = v.Phase != "" || v.Eligibility != "" || v.Lane != ""
	return v
}

// laneSets are the ZSCOREs of one execution in the sets of some lanes.
type laneSets struct {
	lanes            []string
	delayed, eligble []*redis.FloatCmd
}

// queueSets looks in the core's lane's sets and those of the other lanes.
func queueSets(ctx context.Context, p redis.Pipeliner, v ExecutionView, lanes []string) laneSets {
	if v.Err != nil || !v.Exists || model.ValidateLane(v.Lane) != nil {
		return laneSets{}
	}
	all := []string{v.Lane}
	for _, l := range lanes {
		if l != v.Lane {
			all = append(all, l)
		}
	}
	return queueLanes(ctx, p, v.ID, all)
}

func queueLanes(ctx context.Context, p redis.Pipeliner, id model.ExecutionID, lanes []string) laneSets {
	s := laneSets{lanes: lanes}
	for _, l := range lanes {
		s.delayed = append(s.delayed, p.ZScore(ctx, DelayedKey(id.Partition, l), id.Raw))
		s.eligble = append(s.eligble, p.ZScore(ctx, EligibleKey(id.Partition, l), id.Raw))
	}
	return s
}

// apply sets where the execution sits: its own lane's sets, and the other
// lanes whose sets hold it.
func (s laneSets) apply(v *ExecutionView) {
	for i, l := range s.lanes {
		for _, cmd := range []*redis.FloatCmd{s.delayed[i], s.eligble[i]} {
			if err := cmd.Err(); err != nil && !errNil(err) {
				v.Err = fmt.Errorf("cannot read the sets of lane %s: %w", l, err)
				return
			}
		}
		inD, inE := s.delayed[i].Err() == nil, s.eligble[i].Err() == nil
		switch {
		case l == v.Lane:
			v.InDelayed, v.InEligible = inD, inE
		case inD || inE:
			v.OtherLanes = append(v.OtherLanes, l)
		}
	}
}
