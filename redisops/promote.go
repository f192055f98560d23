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

// PromoteFunction is FlowFabric's delayed-promotion function.
const PromoteFunction = "ff_promote_delayed"

// fcall and promoteFunction are boxed once for the hot path.
var fcall, promoteFunction any = "fcall", PromoteFunction

// Addr names the primary a shard's commands go to.
func (sh *Shard) Addr() string { return sh.addr }

// Partitions are the partitions whose slots the shard's primary owns.
func (sh *Shard) Partitions() []int { return sh.partitions }

// NowMs is the shard's primary clock, read by ReadClocks.
func (sh *Shard) NowMs() int64 { return sh.nowMs }

// RoundTrip times one PING to the shard's primary: the network's round
// trip, for sizing batches by the server's time alone.
func (c *Client) RoundTrip(ctx context.Context, sh *Shard) (time.Duration, error) {
	start := time.Now()
	if err := sh.node.Ping(ctx).Err(); err != nil {
		return 0, c.wrap(sh.addr, err)
	}
	return time.Since(start), nil
}

// Shards groups partitions by the primary that owns their slot (one shard
// on a standalone server), sorted by address.
func (c *Client) Shards(ctx context.Context, partitions []int) ([]*Shard, error) {
	return c.shards(ctx, partitions)
}

// ReadClocks sets every shard's clock from its own primary's TIME (or a
// fresh snapshot) and returns the earliest.
func (c *Client) ReadClocks(ctx context.Context, shards []*Shard, snap *Snapshot) (int64, error) {
	if err := c.readClocks(ctx, shards, snap); err != nil {
		return 0, err
	}
	return earliestClock(shards), nil
}

// CountDue counts each set's members (ZCARD) and those with score <= the
// shard's clock (ZCOUNT), in pipelines of listChunk. A set whose count
// failed (a key of the wrong type, say) gets its error in errs; a lost
// server is the returned error.
func (c *Client) CountDue(ctx context.Context, sh *Shard, groups []model.PartitionLane) (due, sizes []int64, errs []error, err error) {
	now := strconv.FormatInt(sh.nowMs, 10)
	counts := make([]*redis.IntCmd, len(groups))
	cards := make([]*redis.IntCmd, len(groups))
	for start := 0; start < len(groups); start += listChunk {
		end := min(start+listChunk, len(groups))
		perr := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
			for i := start; i < end; i++ {
				key := DelayedKey(groups[i].Partition, groups[i].Lane)
				counts[i] = p.ZCount(ctx, key, "-inf", now)
				cards[i] = p.ZCard(ctx, key)
			}
			return nil
		})
		if perr != nil && kindOf(perr) != KindOther {
			return nil, nil, nil, c.wrap(sh.addr, perr)
		}
	}
	due, sizes, errs = make([]int64, len(groups)), make([]int64, len(groups)), make([]error, len(groups))
	for i := range groups {
		due[i], errs[i] = counts[i].Result()
		sizes[i] = cards[i].Val()
	}
	return due, sizes, errs, nil
}

// PageRequest reads the due members of one delayed set from a position:
// the first members with score >= After (inclusive), skipping Skip members
// at exactly that score that the caller has already seen. Resuming by score
// keeps every read as cheap as the first: the server never walks past
// members it has already returned (an offset would make it walk them all
// again, which grows with the square of a set that keeps stayers).
type PageRequest struct {
	Key   string
	After float64
	// Start is true for the first read of a set: from -inf.
	Start bool
	Skip  int64
	Count int64
	// Extra members are asked for beyond Count: as many as the caller may
	// read again (members of its last page still waiting for their FCALL),
	// so a page still holds Count members it has not seen.
	Extra int64
	// AfterMember, when set, is a member at score After that the caller
	// has read: the page starts right after it by rank (ZRANK, then ZRANGE
	// by index: one more round trip, O(log n) for the server), instead of
	// skipping Skip members (which the server walks on every read). When
	// it has left the set, Skip is used.
	AfterMember string
}

// Page is one read of a delayed set.
type Page struct {
	Members []string
	Scores  []float64
	Err     error
	// Count is the request's Count, or less when its members were too
	// large to read that many in one reply; Asked is how many members the
	// read asked for (a page of Asked members may have more behind it).
	Count, Asked int64
}

// ReadPages reads the requested pages of due members (score <= the shard's
// clock) in one pipeline.
func (c *Client) ReadPages(ctx context.Context, sh *Shard, reqs []PageRequest) ([]Page, error) {
	now := strconv.FormatInt(sh.nowMs, 10)
	ranks, err := c.readRanks(ctx, sh, reqs)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.ZSliceCmd, len(reqs))
	err = c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
		for i, r := range reqs {
			if ranks[i] >= 0 {
				cmds[i] = p.ZRangeWithScores(ctx, r.Key, ranks[i]+1, ranks[i]+r.Count+r.Extra)
				continue
			}
			cmds[i] = queuePage(ctx, p, r, now, r.Count+r.Extra)
		}
		return nil
	})
	if kindOf(err) == KindBadReply {
		// Members too large for one reply of this many: each set again on
		// its own, in smaller pieces; a set that cannot be read at all is
		// a failed row of its own, and the run goes on.
		return c.readPagesSmaller(ctx, sh, reqs, now), nil
	}
	if err != nil && kindOf(err) != KindOther {
		return nil, c.wrap(sh.addr, err)
	}
	pages := make([]Page, len(reqs))
	for i, cmd := range cmds {
		pages[i] = toPage(cmd, reqs[i], reqs[i].Count, reqs[i].Count+reqs[i].Extra)
		if ranks[i] >= 0 {
			// A read by rank is not bounded by the clock: what is not due
			// yet ends the page (and, the set being in score order, the
			// set's due members).
			pages[i].dueOnly(sh.nowMs)
		}
	}
	return pages, nil
}

// readRanks finds, in one pipeline, the rank of each request's AfterMember
// (-1 for a request without one, or whose member has left the set).
func (c *Client) readRanks(ctx context.Context, sh *Shard, reqs []PageRequest) ([]int64, error) {
	ranks := make([]int64, len(reqs))
	cmds := make([]*redis.IntCmd, len(reqs))
	want := false
	for i, r := range reqs {
		ranks[i] = -1
		want = want || r.AfterMember != ""
	}
	if !want {
		return ranks, nil
	}
	err := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
		for i, r := range reqs {
			if r.AfterMember != "" {
				cmds[i] = p.ZRank(ctx, r.Key, r.AfterMember)
			}
		}
		return nil
	})
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return nil, c.wrap(sh.addr, err)
	}
	for i, cmd := range cmds {
		if cmd != nil {
			if n, err := cmd.Result(); err == nil {
				ranks[i] = n
			}
		}
	}
	return ranks, nil
}

// dueOnly cuts the page at its first member not due by nowMs.
func (pg *Page) dueOnly(nowMs int64) {
	for j, s := range pg.Scores {
		if s > float64(nowMs) {
			pg.Members, pg.Scores = pg.Members[:j], pg.Scores[:j]
			return
		}
	}
}

func queuePage(ctx context.Context, p redis.Cmdable, r PageRequest, now string, count int64) *redis.ZSliceCmd {
	lo := "-inf"
	if !r.Start {
		lo = strconv.FormatFloat(r.After, 'f', -1, 64)
	}
	return p.ZRangeByScoreWithScores(ctx, r.Key, &redis.ZRangeBy{Min: lo, Max: now, Offset: r.Skip, Count: count})
}

func toPage(cmd *redis.ZSliceCmd, r PageRequest, count, asked int64) Page {
	pg := Page{Count: count, Asked: asked}
	zs, err := cmd.Result()
	if err != nil {
		pg.Err = fmt.Errorf("cannot read delayed set %s: %w", r.Key, err)
		return pg
	}
	pg.Members = make([]string, len(zs))
	pg.Scores = make([]float64, len(zs))
	for j, z := range zs {
		pg.Members[j], _ = z.Member.(string)
		pg.Scores[j] = z.Score
	}
	return pg
}

// readPagesSmaller reads each set alone, halving the count while the reply
// is beyond the guard's limits.
func (c *Client) readPagesSmaller(ctx context.Context, sh *Shard, reqs []PageRequest, now string) []Page {
	pages := make([]Page, len(reqs))
	for i, r := range reqs {
		for count := max(1, (r.Count+r.Extra)/2); ; count = max(1, count/2) {
			cmd := queuePage(ctx, sh.node, r, now, count)
			if err := cmd.Err(); kindOf(err) == KindBadReply {
				if count == 1 {
					pages[i] = Page{Err: fmt.Errorf("delayed set %s holds a member larger than ffdelay reads (%d MiB per string, %d MiB per reply): the set is left as it is; look at it with ZRANGE", r.Key, maxBulkLen>>20, maxReplySize>>20)}
					break
				}
				continue
			}
			pages[i] = toPage(cmd, r, min(count, r.Count), count)
			break
		}
	}
	return pages
}

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
	// Cores that are not delayed get a second, rarer look: the eligible set
	// for eligible_now ones (a misindexed execution is in none), and the
	// delayed set, which tells a stale entry from one promoted since it
	// was read.
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
	if len(notDelayed) == 0 {
		return out, nil
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
			return nil, c.wrap(sh.addr, err)
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
	return out, nil
}

// PromoteItem is one execution to hand to ff_promote_delayed.
type PromoteItem struct {
	ID   model.ExecutionID
	Lane string
}

// PromoteReply is the function's answer for one item: a known outcome, or
// Failed with the error text kept in Detail.
type PromoteReply struct {
	Outcome model.Outcome
	Detail  string
}

// PromoteBatch sends one pipeline of FCALL ff_promote_delayed with the
// shard's clock as now_ms, and returns one reply for every item, whatever
// happened (FateOf decides which: the function's outcome, not_sent or
// unconfirmed), with the error that must stop the run, if any. The batch
// goes on the primary's own connection and is never re-sent. It completes
// even when ctx is cancelled (a signal stops the run after it).
func (c *Client) PromoteBatch(ctx context.Context, sh *Shard, items []PromoteItem) ([]PromoteReply, error) {
	var now any = strconv.FormatInt(sh.nowMs, 10)
	cmds := make([]*redis.Cmd, len(items))
	bctx := context.WithoutCancel(ctx)
	// FCALL ff_promote_delayed 3 core delayed eligible id now: one backing
	// array for the batch's arguments.
	const width = 8
	args := make([]any, len(items)*width)
	err := c.pipeline(bctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
		// A batch's items mostly share a set: its two keys are built
		// once per run of items from the same partition and lane.
		var delayed, eligible any
		lastPart, lastLane := -1, ""
		for i, it := range items {
			a := args[i*width : (i+1)*width : (i+1)*width]
			if it.ID.Partition != lastPart || it.Lane != lastLane {
				lastPart, lastLane = it.ID.Partition, it.Lane
				delayed, eligible = DelayedKey(it.ID.Partition, it.Lane), EligibleKey(it.ID.Partition, it.Lane)
			}
			a[0], a[1], a[2] = fcall, promoteFunction, 3
			a[3], a[4], a[5] = CoreKey(it.ID.Partition, it.ID.Raw), delayed, eligible
			a[6], a[7] = it.ID.Raw, now
			cmds[i] = p.Do(bctx, a...)
		}
		return nil
	})
	out := make([]PromoteReply, len(items))
	if err != nil && kindOf(err) == KindConnSetup {
		// The connection was never set up: nothing was sent.
		for i := range out {
			out[i] = notSent(err)
		}
		return out, err
	}
	// Every item gets exactly one outcome, from its own reply: a call the
	// server refused before running it was not sent (it stays due), a call
	// whose reply was lost is unconfirmed, the rest say what the function
	// did. The first refusal or loss stops the run after this batch.
	var stop error
	for i := range items {
		v, err := cmds[i].Result()
		switch FateOf(err) {
		case NotRun:
			out[i] = notSent(err)
			if stop == nil {
				stop = stopError(sh.addr, err, c)
				if KindOf(stop) == KindNoPerm {
					// The ACL changed since the probe: ask again next run.
					c.ForgetPermissions(sh)
				}
			}
			continue
		case MayHaveRun:
			out[i] = PromoteReply{Outcome: model.Unconfirmed, Detail: unconfirmedDetail}
			if stop == nil {
				stop = c.wrap(sh.addr, err)
			}
			continue
		}
		out[i].Outcome, out[i].Detail = DecodePromoteReply(v, err)
	}
	var suspects []string
	for i := range items {
		if out[i].Outcome == model.Failed && mayHaveWritten(out[i].Detail) {
			suspects = append(suspects, items[i].ID.Raw)
		}
	}
	if len(suspects) > 0 {
		return out, &ServerError{Addr: sh.addr, Kind: KindPartialWrite, Err: fmt.Errorf(
			"%s was refused part-way (%s): it is not atomic when a command inside it is refused, so these executions may now be in no scheduling set: %s; stopped before the rest of the backlog: fix the cause, then run ffdelay audit --repair to re-index them",
			PromoteFunction, firstLine(out[indexOfSuspect(out)].Detail), strings.Join(suspects, ", "))}
	}
	return out, stop
}

// notSent is the outcome of a call the server refused before running it,
// or that never reached it: nothing was written, and the execution stays
// due for the next run.
func notSent(err error) PromoteReply {
	return PromoteReply{Outcome: model.NotSent, Detail: "not run: " + firstLine(strings.TrimSpace(err.Error())) + "; it stays due for the next run"}
}

// stopError is the error that ends a run after a call was refused: a
// missing function is the library gone, the rest keep their kind (a
// redirect in a cluster is a changed layout).
func stopError(addr string, err error, c *Client) error {
	if isMissingFunction(err) {
		// The library vanished mid-run (a restart without persistence, a
		// FUNCTION FLUSH): every further call fails the same way.
		return &ServerError{Addr: addr, Kind: KindNoLibrary,
			Err: fmt.Errorf("%s is not loaded (%v): start ff-server once (it loads the library) or check --url", PromoteFunction, err)}
	}
	return c.wrap(addr, err)
}

// unconfirmedDetail is the error of a call whose reply was lost.
const unconfirmedDetail = "no reply: the connection was lost after the call was sent, so " + PromoteFunction + " may have run; ffdelay inspect says where the execution is, and the next run promotes it if it was not"

// mayHaveWritten reports a function error that can come after the
// function's first write: a command inside it refused (ACL), a score ZADD
// refuses, an arithmetic error on the score. The Lua error on a missing
// delay_until comes before any write and is not one.
func mayHaveWritten(detail string) bool {
	d := strings.ToLower(detail)
	for _, s := range []string{"acl failure", "noperm", "no permissions", "the user executing the script", "not a valid float", "oom ", "arithmetic", "readonly", "misconf"} {
		if strings.Contains(d, s) {
			return true
		}
	}
	return false
}

func indexOfSuspect(out []PromoteReply) int {
	for i, r := range out {
		if r.Outcome == model.Failed && mayHaveWritten(r.Detail) {
			return i
		}
	}
	return 0
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// DecodePromoteReply turns an ff_promote_delayed reply into an outcome. Any
// reply that is not [1, "OK", <known outcome>] is a failure whose text is
// kept: an error reply, a Lua runtime error, [0, code, detail], or a reply
// of another shape.
func DecodePromoteReply(v any, err error) (model.Outcome, string) {
	if err != nil {
		return model.Failed, strings.TrimSpace(err.Error())
	}
	arr, ok := v.([]any)
	if !ok || len(arr) < 3 {
		return model.Failed, fmt.Sprintf("unexpected reply from %s: %v", PromoteFunction, v)
	}
	status, _ := arr[0].(int64)
	code, _ := arr[1].(string)
	detail, _ := arr[2].(string)
	if status == 0 && code != "" {
		return model.Failed, code + ": " + detail
	}
	if status != 1 || code != "OK" {
		return model.Failed, fmt.Sprintf("unexpected reply from %s: %v", PromoteFunction, v)
	}
	switch o := model.Outcome(detail); o {
	case model.Promoted, model.NotYetDue, model.NotFoundCleaned, model.NotRunnableCleaned, model.NotDelayedCleaned:
		return o, ""
	}
	return model.Failed, fmt.Sprintf("unknown outcome from %s: %q", PromoteFunction, detail)
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

func str(v any) string {
	s, _ := v.(string)
	return s
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
