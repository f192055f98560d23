package redisops

import (
	"context"
	"fmt"
	"strconv"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

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
