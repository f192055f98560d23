package redisops

import (
	"context"
	"fmt"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// CoreRequest names an execution whose core is read before promotion.
type CoreRequest struct {
	ID   model.ExecutionID
	Lane string
}

// CoreView is what one pipelined read says about an execution: the core
// fields ff_promote_delayed decides on, whether its lane's eligible set
// holds it, and its namespace and requested tags for the filters.
type CoreView struct {
	Exists                                    bool
	Phase, Eligibility, Ownership, DelayUntil string
	// Priority and CreatedAt make the eligible score the function writes.
	Priority, CreatedAt string
	// The Set flags tell a missing field (Lua's `or "0"` counts it as 0)
	// from an empty one (tonumber of "" is nil).
	DelayUntilSet, PrioritySet, CreatedAtSet bool
	// Lane is the core's lane_id; WrongLane says the entry sits in the set
	// of another lane.
	Lane      string
	WrongLane bool
	// InEligible is read only for eligible_now executions.
	InEligible bool
	// Gone is set for a core that is not delayed whose member has left the
	// delayed set since it was read there: someone promoted (or cleaned)
	// it in between. Read only for cores that are not delayed.
	Gone      bool
	Namespace string
	// Tags holds the requested tags' values; nil entries are missing.
	Tags []*string
	// Err is set when the core or the eligible set could not be read.
	Err error
	// TagsErr is set when the tags hash could not be read.
	TagsErr error
}

// coreFields are the core fields a core read asks for, in CoreView's
// order; hmget is the command, boxed once.
var (
	coreFields     = [...]any{"lifecycle_phase", "eligibility_state", "ownership_state", "delay_until", "namespace", "priority", "created_at", "lane_id"}
	hmget      any = "hmget"
)

// coreChunk bounds the commands of one core-read pipeline: about a
// millisecond of server time, so reads do not stall other clients longer
// than an FCALL batch does.
const coreChunk = 256

// ReadCores reads every request's core (and, when tagKeys is not empty,
// those tags): one HMGET each, in pipelines of coreChunk; then, only for
// the executions that say eligible_now, whether their lane's eligible set
// holds them (the misindexed shape).
func (c *Client) ReadCores(ctx context.Context, sh *Shard, reqs []CoreRequest, tagKeys []string) ([]CoreView, error) {
	out := make([]CoreView, len(reqs))
	core := make([]*redis.Cmd, len(reqs))
	tags := make([]*redis.SliceCmd, len(reqs))
	// One backing array for every HMGET's arguments, the field names boxed
	// once: a core read is the hot path's most frequent command.
	const width = 2 + len(coreFields)
	args := make([]any, len(reqs)*width)
	for start := 0; start < len(reqs); start += coreChunk {
		end := min(start+coreChunk, len(reqs))
		err := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
			for i := start; i < end; i++ {
				r := reqs[i]
				a := args[i*width : (i+1)*width : (i+1)*width]
				a[0], a[1] = hmget, CoreKey(r.ID.Partition, r.ID.Raw)
				copy(a[2:], coreFields[:])
				core[i] = p.Do(ctx, a...)
				if len(tagKeys) > 0 {
					tags[i] = p.HMGet(ctx, TagsKey(r.ID.Partition, r.ID.Raw), tagKeys...)
				}
			}
			return nil
		})
		if err != nil && !errNil(err) && kindOf(err) != KindOther {
			return nil, c.wrap(sh.addr, err)
		}
	}
	var notDelayed []int
	for i := range reqs {
		v := &out[i]
		vals, err := core[i].Slice()
		if err == nil && len(vals) != 8 {
			err = fmt.Errorf("HMGET answered %d values for 8 fields", len(vals))
		}
		if err != nil {
			v.Err = fmt.Errorf("cannot read core: %w", err)
			continue
		}
		v.Phase, v.Eligibility, v.Ownership, v.DelayUntil, v.Namespace = str(vals[0]), str(vals[1]), str(vals[2]), str(vals[3]), str(vals[4])
		v.Priority, v.CreatedAt = str(vals[5]), str(vals[6])
		v.DelayUntilSet, v.PrioritySet, v.CreatedAtSet = vals[3] != nil, vals[5] != nil, vals[6] != nil
		// The core's own lane decides which eligible set it belongs in (an
		// entry in another lane's set is stale, or misplaced).
		v.Lane = str(vals[7])
		v.WrongLane = v.Lane != "" && v.Lane != reqs[i].Lane
		// A core has these fields from its creation on: none of them
		// means there is no core (HMGET cannot tell the two apart).
		v.Exists = vals[0] != nil || vals[1] != nil || vals[2] != nil || vals[3] != nil || vals[4] != nil
		if v.Exists && v.Eligibility != "not_eligible_until_time" {
			notDelayed = append(notDelayed, i)
		}
		if tags[i] != nil {
			tv, err := tags[i].Result()
			if err == nil && len(tv) != len(tagKeys) {
				err = fmt.Errorf("HMGET answered %d values for %d tags", len(tv), len(tagKeys))
			}
			if err != nil {
				v.TagsErr = err
				continue
			}
			v.Tags = make([]*string, len(tv))
			for j, x := range tv {
				if s, ok := x.(string); ok {
					v.Tags[j] = &s
				}
			}
		}
	}
	if err := c.readPlacement(ctx, sh, reqs, out, notDelayed); err != nil {
		return nil, err
	}
	return out, nil
}

// readPlacement gives the cores that are not delayed (indexes notDelayed
// of reqs and out) their second, rarer look: the eligible set for
// eligible_now ones (a misindexed execution is in none), and the delayed
// set, which tells a stale entry from one promoted since it was read.
func (c *Client) readPlacement(ctx context.Context, sh *Shard, reqs []CoreRequest, out []CoreView, notDelayed []int) error {
	if len(notDelayed) == 0 {
		return nil
	}
	elig := make([]*redis.FloatCmd, len(notDelayed))
	delayed := make([]*redis.FloatCmd, len(notDelayed))
	for start := 0; start < len(notDelayed); start += coreChunk / 2 {
		end := min(start+coreChunk/2, len(notDelayed))
		err := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
			for k := start; k < end; k++ {
				r := reqs[notDelayed[k]]
				if v := out[notDelayed[k]]; v.Eligibility == "eligible_now" {
					lane := r.Lane
					if v.Lane != "" {
						lane = v.Lane
					}
					elig[k] = p.ZScore(ctx, EligibleKey(r.ID.Partition, lane), r.ID.Raw)
				}
				delayed[k] = p.ZScore(ctx, DelayedKey(r.ID.Partition, r.Lane), r.ID.Raw)
			}
			return nil
		})
		if err != nil && !errNil(err) && kindOf(err) != KindOther {
			return c.wrap(sh.addr, err)
		}
	}
	for k, i := range notDelayed {
		if elig[k] != nil {
			if err := elig[k].Err(); err != nil && !errNil(err) {
				out[i].Err = fmt.Errorf("cannot read eligible set: %w", err)
				continue
			}
			out[i].InEligible = elig[k].Err() == nil
		}
		out[i].Gone = errNil(delayed[k].Err())
	}
	return nil
}

// CoreLanes reads each id's lane_id from its core (one pipeline); "" when
// the core or the field is missing.
func (c *Client) CoreLanes(ctx context.Context, sh *Shard, ids []model.ExecutionID) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	err := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, CoreKey(id.Partition, id.Raw), "lane_id")
		}
		return nil
	})
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return nil, c.wrap(sh.addr, err)
	}
	out := make([]string, len(ids))
	for i, cmd := range cmds {
		out[i] = cmd.Val()
	}
	return out, nil
}

// DelayedScores looks each id up in the delayed sets of its lanes (one
// pipeline): scores[i][j] is ids[i]'s score in lanes[i][j]'s set, nil when
// it is not there.
func (c *Client) DelayedScores(ctx context.Context, sh *Shard, ids []model.ExecutionID, lanes [][]string) ([][]*float64, error) {
	cmds := make([][]*redis.FloatCmd, len(ids))
	err := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = make([]*redis.FloatCmd, len(lanes[i]))
			for j, lane := range lanes[i] {
				cmds[i][j] = p.ZScore(ctx, DelayedKey(id.Partition, lane), id.Raw)
			}
		}
		return nil
	})
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return nil, c.wrap(sh.addr, err)
	}
	out := make([][]*float64, len(ids))
	for i := range ids {
		out[i] = make([]*float64, len(lanes[i]))
		for j := range lanes[i] {
			if v, err := cmds[i][j].Result(); err == nil {
				out[i][j] = &v
			}
		}
	}
	return out, nil
}
