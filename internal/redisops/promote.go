package redisops

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// PromoteFunction is FlowFabric's delayed-promotion function.
const PromoteFunction = "ff_promote_delayed"

// TagFilter selects executions whose tags hash has Key = Value.
type TagFilter struct{ Key, Value string }

// PromoteOptions says what a promote run does.
type PromoteOptions struct {
	Scope  Scope
	DryRun bool
	// Namespace and Tags select executions; a missing or unreadable field
	// means skip (fail closed), as the engine's filter does.
	Namespace string
	Tags      []TagFilter
	// Executions, when set, are the only ids considered.
	Executions []ExecutionID
	// Limit stops the run after that many promotions (would_promote in a
	// dry run); 0 means no limit.
	Limit int64
	// Rate caps FCALLs per second; 0 means unlimited.
	Rate float64
	// BatchSize is the number of FCALLs in one pipeline.
	BatchSize int
	// Pipelines is the number of pipelines in flight per primary; 0 picks
	// DefaultPipelines on a single server and 1 per primary in a cluster.
	Pipelines int
	// Backoff reports ids that are skipped this cycle (watch mode).
	Backoff func(id string) bool
}

// DefaultBatchSize keeps one pipeline of FCALLs to a few milliseconds of
// server time (about 30 µs each), so workers' claims are not starved.
const DefaultBatchSize = 64

// pageSize is how many due members of one set one read returns: several
// batches, so a backlog in a single set (a lane's solo executions all land
// on one partition) still keeps Pipelines batches in flight.
const pageSize = 1024

// readBudget bounds the members read in one pipelined page read.
const readBudget = 4096

// DefaultPipelines is the number of pipelines in flight to a standalone
// server: two, so the server works on one while the client decodes the
// other. In a cluster the primaries already work in parallel and one
// pipeline each measured both faster and fairer (BENCHMARKS.md): two per
// primary let the client's decoding fall behind and the primaries' Lua
// time grow.
const DefaultPipelines = 2

// PromoteRun is one pass over the scope.
type PromoteRun struct {
	c      *Client
	opts   PromoteOptions
	shards []*shard
	plans  map[*shard][]*cursor
	ids    map[*shard][]ExecutionID
	// ServerTimeMs is the earliest primary clock.
	ServerTimeMs int64
	// Due is how many members were due when the run was planned.
	Due int64

	emitMu sync.Mutex
	budget *budget
	rate   *rate.Limiter
}

// cursor walks one delayed set. Members that stay in the set (not yet due,
// failing, filtered out, malformed) are stepped over by offset, so they
// never block the due members behind them.
type cursor struct {
	PartitionLane
	key    string
	offset int64
	due    int64
}

// NewPromote plans a run: which primary owns what, each primary's clock, and
// how many members are due in each set (one pipelined ZCOUNT pass).
func (c *Client) NewPromote(ctx context.Context, opts PromoteOptions) (*PromoteRun, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	r := &PromoteRun{c: c, opts: opts, plans: map[*shard][]*cursor{}, ids: map[*shard][]ExecutionID{}}
	parts := opts.Scope.allPartitions()
	if len(opts.Executions) > 0 {
		parts = parts[:0:0]
		seen := map[int]bool{}
		for _, id := range opts.Executions {
			if !seen[id.Partition] {
				seen[id.Partition] = true
				parts = append(parts, id.Partition)
			}
		}
	}
	shards, err := c.shards(ctx, parts)
	if err != nil {
		return nil, err
	}
	if err := c.readClocks(ctx, shards); err != nil {
		return nil, err
	}
	r.shards, r.ServerTimeMs = shards, earliestClock(shards)
	if r.opts.Pipelines <= 0 {
		r.opts.Pipelines = DefaultPipelines
		if c.IsCluster() {
			r.opts.Pipelines = 1
		}
	}
	for _, sh := range shards {
		sh.inflight = make(chan struct{}, r.opts.Pipelines)
	}
	if opts.Limit > 0 {
		r.budget = newBudget(opts.Limit)
	}
	if opts.Rate > 0 {
		// A tenth of a second's worth per batch: a bigger burst would let
		// the first second run well over the rate.
		burst := max(1, min(opts.BatchSize, int(opts.Rate/10)))
		r.rate = rate.NewLimiter(rate.Limit(opts.Rate), burst)
		r.opts.BatchSize = burst
	}
	if len(opts.Executions) > 0 {
		for _, sh := range shards {
			for _, id := range opts.Executions {
				if contains1(sh.partitions, id.Partition) {
					r.ids[sh] = append(r.ids[sh], id)
				}
			}
			r.Due += int64(len(r.ids[sh]))
		}
		return r, nil
	}
	var mu sync.Mutex
	err = parallel(shards, func(sh *shard) error {
		groups := opts.Scope.groupsOf(sh)
		now := strconv.FormatInt(sh.nowMs, 10)
		counts := make([]*redis.IntCmd, len(groups))
		for start := 0; start < len(groups); start += listChunk {
			end := min(start+listChunk, len(groups))
			_, err := sh.cmd.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := start; i < end; i++ {
					counts[i] = p.ZCount(ctx, DelayedKey(groups[i].Partition, groups[i].Lane), "-inf", now)
				}
				return nil
			})
			if err != nil && kindOf(err) != KindOther {
				return c.wrap(sh.addr, err)
			}
		}
		var plan []*cursor
		var due int64
		for i, g := range groups {
			n, err := counts[i].Result()
			if err != nil {
				// A key of the wrong type still gets a cursor: its page read
				// reports the error against the set.
				n = 1
			}
			if n > 0 {
				plan = append(plan, &cursor{PartitionLane: g, key: DelayedKey(g.Partition, g.Lane), due: n})
				due += n
			}
		}
		mu.Lock()
		r.plans[sh] = plan
		r.Due += due
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func contains1(list []int, p int) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

// Run promotes (or, in a dry run, predicts) every due execution in scope.
// emit receives each result, one at a time. When ctx is cancelled the batch
// in flight completes and Run returns ctx's error; when a server is lost Run
// returns a ServerError of KindUnreachable after emitting what was done.
func (r *PromoteRun) Run(ctx context.Context, emit func(Result)) error {
	safeEmit := func(res Result) {
		r.emitMu.Lock()
		emit(res)
		r.emitMu.Unlock()
	}
	return parallel(r.shards, func(sh *shard) error {
		if len(r.opts.Executions) > 0 {
			return r.runIDs(ctx, sh, safeEmit)
		}
		return r.runShard(ctx, sh, safeEmit)
	})
}

func (r *PromoteRun) runShard(ctx context.Context, sh *shard, emit func(Result)) error {
	// Workers take a share of the cursors, read a page of each and handle
	// it; a cursor with more to read goes back in the queue. A worker that
	// finds the queue empty waits while another is busy, since that one may
	// put cursors back.
	queue := r.plans[sh]
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	busy := 0
	take := func() []*cursor {
		mu.Lock()
		defer mu.Unlock()
		for len(queue) == 0 && busy > 0 {
			cond.Wait()
		}
		var out []*cursor
		var want int64
		for len(queue) > 0 && want < readBudget {
			c := queue[0]
			queue = queue[1:]
			out = append(out, c)
			want += min(c.due, pageSize)
		}
		if len(out) > 0 {
			busy++
		}
		return out
	}
	release := func(again []*cursor) {
		mu.Lock()
		queue = append(queue, again...)
		busy--
		cond.Broadcast()
		mu.Unlock()
	}
	workers := r.opts.Pipelines
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for {
				if ctx.Err() != nil || r.budget.exhausted() {
					errs <- nil
					return
				}
				cs := take()
				if len(cs) == 0 {
					errs <- nil
					return
				}
				again, err := r.step(ctx, sh, cs, emit)
				if err != nil {
					release(nil)
					errs <- err
					return
				}
				release(again)
			}
		}()
	}
	var first error
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// candidate is one member read from a delayed set.
type candidate struct {
	cur    *cursor
	member string
	id     ExecutionID
	stays  bool
	view   CoreView
}

// step reads one page of each cursor, handles it, and returns the cursors
// that have more to read.
func (r *PromoteRun) step(ctx context.Context, sh *shard, cs []*cursor, emit func(Result)) ([]*cursor, error) {
	now := strconv.FormatInt(sh.nowMs, 10)
	pages := make([]*redis.StringSliceCmd, len(cs))
	_, err := sh.cmd.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range cs {
			pages[i] = p.ZRangeByScore(ctx, c.key, &redis.ZRangeBy{Min: "-inf", Max: now, Offset: c.offset, Count: pageSize})
		}
		return nil
	})
	if err != nil && kindOf(err) != KindOther {
		return nil, r.c.wrap(sh.addr, err)
	}
	var cands []*candidate
	var more []*cursor
	for i, c := range cs {
		members, err := pages[i].Result()
		if err != nil {
			emit(Result{Partition: c.Partition, Lane: c.Lane, Outcome: Failed,
				Error: fmt.Sprintf("cannot read delayed set %s: %v", c.key, err)})
			continue
		}
		for _, m := range members {
			cands = append(cands, &candidate{cur: c, member: m})
		}
		if len(members) == pageSize {
			more = append(more, c)
		}
	}
	if err := r.handle(ctx, sh, cands, emit); err != nil {
		return nil, err
	}
	for _, cd := range cands {
		if cd.stays {
			cd.cur.offset++
		}
		cd.cur.due--
	}
	if ctx.Err() != nil || r.budget.exhausted() {
		return nil, nil
	}
	return more, nil
}

// runIDs handles --execution: find each id's delayed set among the lanes in
// scope (one pipelined ZSCORE pass), then treat it like a page member.
func (r *PromoteRun) runIDs(ctx context.Context, sh *shard, emit func(Result)) error {
	ids := r.ids[sh]
	scope := r.opts.Scope
	inScope := map[int]bool{}
	for _, p := range scope.allPartitions() {
		inScope[p] = true
	}
	type probe struct {
		id    ExecutionID
		lane  string
		score *redis.FloatCmd
	}
	var probes []probe
	_, err := sh.cmd.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			if !inScope[id.Partition] {
				continue
			}
			for _, lane := range scope.Lanes {
				probes = append(probes, probe{id, lane, p.ZScore(ctx, DelayedKey(id.Partition, lane), id.Raw)})
			}
		}
		return nil
	})
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return r.c.wrap(sh.addr, err)
	}
	var cands []*candidate
	for _, id := range ids {
		var found *probe
		for i := range probes {
			if probes[i].id.Raw == id.Raw && probes[i].score.Err() == nil {
				found = &probes[i]
				break
			}
		}
		if found == nil {
			emit(Result{Partition: id.Partition, Lane: "", ExecutionID: id.Raw, Outcome: NotInDelayedSet,
				Reason: "in no delayed set of the lanes and partitions in scope"})
			continue
		}
		if found.score.Val() > float64(sh.nowMs) {
			emit(Result{Partition: id.Partition, Lane: found.lane, ExecutionID: id.Raw, Outcome: NotYetDue,
				Reason: "its delayed score is in the future"})
			continue
		}
		c := &cursor{PartitionLane: PartitionLane{id.Partition, found.lane}, key: DelayedKey(id.Partition, found.lane)}
		cands = append(cands, &candidate{cur: c, member: id.Raw})
	}
	if err := r.handle(ctx, sh, cands, emit); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// handle decides every candidate's outcome: validation, backoff, filters,
// then FCALL (or the dry-run prediction) in bounded batches.
func (r *PromoteRun) handle(ctx context.Context, sh *shard, cands []*candidate, emit func(Result)) error {
	result := func(cd *candidate, o Outcome, reason, errText string) {
		cd.stays = staysInSet(o)
		emit(Result{Partition: cd.cur.Partition, Lane: cd.cur.Lane, ExecutionID: cd.member, Outcome: o, Reason: reason, Error: errText})
	}
	var live []*candidate
	for _, cd := range cands {
		id, err := ParseExecutionID(cd.member)
		switch {
		case err != nil:
			// Never handed to the function: it would build keys from garbage.
			result(cd, Failed, "", "malformed member: "+err.Error())
		case id.Partition != cd.cur.Partition:
			result(cd, Failed, "", fmt.Sprintf("id is tagged for partition %d but sits in partition %d's delayed set", id.Partition, cd.cur.Partition))
		case r.opts.Backoff != nil && r.opts.Backoff(cd.member):
			result(cd, SkippedBackoff, "failed 3 cycles in a row; retried after 10 cycles", "")
		default:
			cd.id = id
			live = append(live, cd)
		}
	}
	if len(live) == 0 {
		return nil
	}
	// One pipelined read of every candidate's core decides what never goes
	// to the function: filtered out, or a shape it would strand or fail on.
	live, err := r.precheck(ctx, sh, live, result)
	if err != nil {
		return err
	}
	// Batches go out concurrently, at most Pipelines per primary in
	// flight (the shard's semaphore), so even a single delayed set keeps
	// the server busy while the client decodes; the step waits for all of
	// them because the cursors' offsets depend on their outcomes.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fatal error
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return fatal != nil
	}
	for start := 0; start < len(live) && ctx.Err() == nil && !failed(); {
		n := r.budget.reserve(min(r.opts.BatchSize, len(live)-start))
		if n == 0 {
			break
		}
		if r.rate != nil {
			if err := r.rate.WaitN(ctx, n); err != nil {
				r.budget.settle(n, 0)
				break
			}
		}
		batch := live[start : start+n]
		start += n
		sh.inflight <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sh.inflight; wg.Done() }()
			var used int64
			var err error
			if r.opts.DryRun {
				used = r.predict(sh, batch, result)
			} else {
				used, err = r.promote(ctx, sh, batch, result)
			}
			r.budget.settle(len(batch), used)
			if err != nil {
				mu.Lock()
				if fatal == nil {
					fatal = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return fatal
}

// staysInSet reports outcomes after which the member is still in its set.
func staysInSet(o Outcome) bool {
	switch o {
	case Promoted, NotFoundCleaned, NotRunnableCleaned, NotDelayedCleaned:
		return false
	}
	return true
}

// CoreView is what one pipelined read says about a candidate before it is
// handed to the function.
type CoreView struct {
	Exists                                    bool
	Phase, Eligibility, Ownership, DelayUntil string
	InEligible                                bool
	namespace                                 string
	tags                                      []any
}

// precheck reads each candidate's core (and, with filters, its namespace
// and tags) in one pipeline, applies the filters (fail closed), and keeps
// every shape ff_promote_delayed would strand or fail on away from it.
func (r *PromoteRun) precheck(ctx context.Context, sh *shard, cands []*candidate, result func(*candidate, Outcome, string, string)) ([]*candidate, error) {
	type reads struct {
		exists *redis.IntCmd
		core   *redis.SliceCmd
		elig   *redis.FloatCmd
		tags   *redis.SliceCmd
	}
	rd := make([]reads, len(cands))
	tagKeys := make([]string, len(r.opts.Tags))
	for i, t := range r.opts.Tags {
		tagKeys[i] = t.Key
	}
	_, err := sh.cmd.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, cd := range cands {
			core := CoreKey(cd.id.Partition, cd.id.Raw)
			rd[i].exists = p.Exists(ctx, core)
			rd[i].core = p.HMGet(ctx, core, "lifecycle_phase", "eligibility_state", "ownership_state", "delay_until", "namespace")
			rd[i].elig = p.ZScore(ctx, EligibleKey(cd.id.Partition, cd.cur.Lane), cd.id.Raw)
			if len(tagKeys) > 0 {
				rd[i].tags = p.HMGet(ctx, TagsKey(cd.id.Partition, cd.id.Raw), tagKeys...)
			}
		}
		return nil
	})
	if err != nil && !errNil(err) && kindOf(err) != KindOther {
		return nil, r.c.wrap(sh.addr, err)
	}
	var keep []*candidate
	for i, cd := range cands {
		n, err1 := rd[i].exists.Result()
		vals, err2 := rd[i].core.Result()
		if err := firstErr(err1, err2); err != nil || len(vals) != 5 {
			result(cd, Failed, "", fmt.Sprintf("cannot read core: %v", err))
			continue
		}
		eligErr := rd[i].elig.Err()
		if eligErr != nil && !errNil(eligErr) {
			result(cd, Failed, "", fmt.Sprintf("cannot read eligible set: %v", eligErr))
			continue
		}
		v := CoreView{Exists: n > 0, Phase: str(vals[0]), Eligibility: str(vals[1]), Ownership: str(vals[2]),
			DelayUntil: str(vals[3]), namespace: str(vals[4]), InEligible: eligErr == nil}
		if rd[i].tags != nil {
			var err error
			if v.tags, err = rd[i].tags.Result(); err != nil || len(v.tags) != len(tagKeys) {
				result(cd, SkippedFilter, "tags unreadable", "")
				continue
			}
		}
		if reason, ok := r.matches(v); !ok {
			result(cd, SkippedFilter, reason, "")
			continue
		}
		cd.view = v
		if o, reason := Decide(v, sh.nowMs); o == WouldRepair {
			if r.opts.DryRun {
				result(cd, WouldRepair, reason, "")
			} else {
				result(cd, NeedsRepair, reason+"; run promote --repair", "")
			}
			continue
		}
		keep = append(keep, cd)
	}
	return keep, nil
}

// matches applies --namespace and --tag; a missing field fails closed.
func (r *PromoteRun) matches(v CoreView) (string, bool) {
	if r.opts.Namespace != "" && v.namespace != r.opts.Namespace {
		if v.namespace == "" {
			return "namespace unreadable", false
		}
		return "namespace " + v.namespace, false
	}
	for j, t := range r.opts.Tags {
		if s, isStr := v.tags[j].(string); !isStr || s != t.Value {
			return "tag " + t.Key + " does not match", false
		}
	}
	return "", true
}

// promote sends one pipelined batch of FCALLs. Each FCALL is atomic on the
// server, so a lost connection leaves every execution in exactly one set.
func (r *PromoteRun) promote(ctx context.Context, sh *shard, batch []*candidate, result func(*candidate, Outcome, string, string)) (int64, error) {
	now := strconv.FormatInt(sh.nowMs, 10)
	cmds := make([]*redis.Cmd, len(batch))
	// The batch finishes even when the run is being interrupted.
	bctx := context.WithoutCancel(ctx)
	_, err := sh.cmd.Pipelined(bctx, func(p redis.Pipeliner) error {
		for i, cd := range batch {
			keys := []string{CoreKey(cd.id.Partition, cd.id.Raw), cd.cur.key, EligibleKey(cd.id.Partition, cd.cur.Lane)}
			cmds[i] = p.FCall(bctx, PromoteFunction, keys, cd.id.Raw, now)
		}
		return nil
	})
	if err != nil && kindOf(err) == KindUnreachable {
		return 0, r.c.wrap(sh.addr, err)
	}
	var promoted int64
	for i, cd := range batch {
		v, err := cmds[i].Result()
		if err != nil && kindOf(err) != KindOther {
			return promoted, r.c.wrap(sh.addr, err)
		}
		if err != nil && isMissingFunction(err) {
			// The library vanished mid-run (a restart without persistence,
			// a FUNCTION FLUSH): every further call fails the same way.
			return promoted, &ServerError{Addr: sh.addr, Kind: KindNoLibrary,
				Err: fmt.Errorf("%s is not loaded (%v): start ff-server once (it loads the library) or check --url", PromoteFunction, err)}
		}
		o, detail := DecodePromoteReply(v, err)
		if o == Promoted {
			promoted++
		}
		if o == Failed {
			result(cd, o, failureReason(detail), detail)
		} else {
			result(cd, o, "", "")
		}
	}
	return promoted, nil
}

// DecodePromoteReply turns an ff_promote_delayed reply into an outcome. Any
// reply that is not [1, "OK", <known outcome>] is a failure whose text is
// kept: an error reply, a Lua runtime error, [0, code, detail], or a reply
// of another shape.
func DecodePromoteReply(v any, err error) (Outcome, string) {
	if err != nil {
		return Failed, strings.TrimSpace(err.Error())
	}
	arr, ok := v.([]any)
	if !ok || len(arr) < 3 {
		return Failed, fmt.Sprintf("unexpected reply from %s: %v", PromoteFunction, v)
	}
	status, _ := arr[0].(int64)
	code, _ := arr[1].(string)
	detail, _ := arr[2].(string)
	if status == 0 && code != "" {
		return Failed, code + ": " + detail
	}
	if status != 1 || code != "OK" {
		return Failed, fmt.Sprintf("unexpected reply from %s: %v", PromoteFunction, v)
	}
	switch o := Outcome(detail); o {
	case Promoted, NotYetDue, NotFoundCleaned, NotRunnableCleaned, NotDelayedCleaned:
		return o, ""
	}
	return Failed, fmt.Sprintf("unknown outcome from %s: %q", PromoteFunction, detail)
}

// predict reports, without writing, what the function would do with
// candidates the precheck let through.
func (r *PromoteRun) predict(sh *shard, batch []*candidate, result func(*candidate, Outcome, string, string)) int64 {
	var would int64
	for _, cd := range batch {
		o, reason := Decide(cd.view, sh.nowMs)
		if o == WouldPromote {
			would++
		}
		result(cd, o, reason, "")
	}
	return would
}

// Decide is what ff_promote_delayed would do with a due delayed entry whose
// core reads v, and the two shapes where it must not be called at all
// (WouldRepair): a misindexed eligible execution, which the function
// would remove from every scheduling set, and a delayed one without
// delay_until, on which it fails with a Lua error forever.
func Decide(v CoreView, nowMs int64) (Outcome, string) {
	switch {
	case v.Exists && v.Phase == "runnable" && v.Eligibility == "eligible_now" && v.Ownership == "unowned" && !v.InEligible:
		return WouldRepair, "misindexed: eligible_now but in the delayed set and in no eligible set; ff_promote_delayed would drop it from every set"
	case v.Exists && v.Phase == "runnable" && v.Eligibility == "not_eligible_until_time":
		if _, err := strconv.ParseFloat(strings.TrimSpace(v.DelayUntil), 64); err != nil {
			return WouldRepair, "no delay_until in the core (resumed with a delay): ff_promote_delayed fails on it forever"
		}
	}
	return PredictPromote(v.Exists, v.Phase, v.Eligibility, v.DelayUntil, nowMs)
}

// PredictPromote is ff_promote_delayed's decision, made without writing.
func PredictPromote(exists bool, phase, eligibility, delayUntil string, nowMs int64) (Outcome, string) {
	switch {
	case !exists:
		return WouldClean, string(NotFoundCleaned)
	case phase != "runnable":
		return WouldClean, string(NotRunnableCleaned)
	case eligibility != "not_eligible_until_time":
		return WouldClean, string(NotDelayedCleaned)
	}
	du, err := strconv.ParseFloat(strings.TrimSpace(delayUntil), 64)
	if err != nil {
		return WouldFail, "core has no numeric delay_until: the function fails with a Lua error"
	}
	if du > float64(nowMs) {
		return NotYetDue, ""
	}
	return WouldPromote, ""
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

// budget shares --limit between concurrent workers: a batch only goes out
// with as many slots reserved as it could use, so the limit is never passed.
type budget struct {
	mu       sync.Mutex
	cond     *sync.Cond
	limit    int64
	used     int64
	reserved int64
}

func newBudget(limit int64) *budget {
	b := &budget{limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// reserve grants up to n slots, waiting while others hold the rest; 0 means
// the limit is reached.
func (b *budget) reserve(n int) int {
	if b == nil {
		return n
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		free := b.limit - b.used - b.reserved
		if free > 0 {
			g := min(int64(n), free)
			b.reserved += g
			return int(g)
		}
		if b.reserved == 0 {
			return 0
		}
		b.cond.Wait()
	}
}

// settle returns a reservation of granted slots of which used were used.
func (b *budget) settle(granted int, used int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.reserved -= int64(granted)
	b.used += used
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *budget) exhausted() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used >= b.limit
}

func isMissingFunction(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Function not found") || strings.HasPrefix(s, "NOSCRIPT") || strings.Contains(s, "unknown function")
}

// failureReason explains the failures FlowFabric is known for; the error
// text itself is kept beside it.
func failureReason(errText string) string {
	if strings.Contains(errText, "compare number with nil") || strings.Contains(errText, "compare nil with number") {
		return "stuck: no delay_until in the core (resumed with a delay); the engine's promoter fails on it forever"
	}
	return ""
}
