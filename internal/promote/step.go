package promote

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

// cursor walks one delayed set by score. Members that stay in the set (not
// yet due, failing, filtered out, malformed) are stepped over by resuming
// from the last score seen and skipping the stayers already seen at that
// score, so they never block the due members behind them and every read
// costs the server what the first one did.
type cursor struct {
	model.PartitionLane
	key     string
	started bool
	after   float64
	skip    int64
	due     int64
	// count is how many members one read asks for (0: pageSize); smaller
	// for a set whose members are large.
	count int64
	// read counts the members read; a set that keeps yielding well beyond
	// what was due when the run was planned (someone keeps adding due
	// entries) is left for the next run, so a run always ends.
	read, planned int64
}

// advance moves the cursor past a page whose members were handled in
// order; stays[i] says whether member i is still in the set. A member
// removed by someone else after it was counted as staying makes the next
// read skip one member too many at that score: it is picked up next run.
func (c *cursor) advance(scores []float64, stays []bool) {
	for i, s := range scores {
		if !c.started || s != c.after {
			c.started, c.after, c.skip = true, s, 0
		}
		if stays[i] {
			c.skip++
		}
	}
	c.due -= int64(len(scores))
	c.read += int64(len(scores))
}

// exhausted reports a set that has yielded its planned due members and a
// page more.
func (c *cursor) exhausted() bool { return c.read >= c.planned+pageSize }

func (c *cursor) request() redisops.PageRequest {
	count := int64(pageSize)
	if c.count > 0 {
		count = c.count
	}
	return redisops.PageRequest{Key: c.key, Start: !c.started, After: c.after, Skip: c.skip, Count: count}
}

// candidate is one member read from a delayed set.
type candidate struct {
	model.PartitionLane
	member string
	id     model.ExecutionID
	view   redisops.CoreView
	stays  bool
}

// step reads one page of each cursor, handles it, and returns the cursors
// that have more to read.
func (r *Run) step(ctx context.Context, w *worker, cs []*cursor, emit func(model.Result)) ([]*cursor, error) {
	reqs := make([]redisops.PageRequest, len(cs))
	for i, c := range cs {
		reqs[i] = c.request()
	}
	pages, err := r.c.ReadPages(ctx, w.sh, reqs)
	if ctx.Err() != nil {
		// Interrupted: what was not read is left as it is, with no result.
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	var cands []*candidate
	var more []*cursor
	for i, c := range cs {
		if pages[i].Err != nil {
			emit(model.Result{Partition: c.Partition, Lane: c.Lane, Outcome: model.Failed, Error: pages[i].Err.Error()})
			continue
		}
		for _, m := range pages[i].Members {
			cands = append(cands, &candidate{PartitionLane: c.PartitionLane, member: m})
		}
		if len(pages[i].Members) > 0 && int64(len(pages[i].Members)) == pages[i].Count && !c.exhausted() {
			more = append(more, c)
		}
		if pages[i].Count < int64(pageSize) {
			// Large members: the next reads of this set ask for as many as
			// fit in one reply.
			c.count = pages[i].Count
		}
	}
	if err := r.handle(ctx, w, cands, emit); err != nil {
		return nil, err
	}
	k := 0
	for i, c := range cs {
		if pages[i].Err != nil {
			continue
		}
		n := len(pages[i].Members)
		stays := make([]bool, n)
		for j := range stays {
			stays[j] = cands[k+j].stays
		}
		c.advance(pages[i].Scores, stays)
		k += n
	}
	if ctx.Err() != nil || r.budget.exhausted() {
		return nil, nil
	}
	return more, nil
}

// runIDs handles --execution: find each id's delayed set among the lanes in
// scope (one pipelined ZSCORE pass), then treat it like a page member.
func (r *Run) runIDs(ctx context.Context, w *worker, emit func(model.Result)) error {
	scope := r.opts.Scope
	var ids []model.ExecutionID
	for _, id := range w.ids {
		if slices.Contains(scope.Partitions, id.Partition) {
			ids = append(ids, id)
		} else {
			emit(model.Result{Partition: id.Partition, ExecutionID: id.Raw, Outcome: model.NotInDelayedSet, Why: model.WhyNotInScope})
		}
	}
	// The core names the execution's lane, also one nobody registered;
	// the lanes in scope are looked in too (a core may be gone).
	coreLanes, err := r.c.CoreLanes(ctx, w.sh, ids)
	if err != nil {
		return err
	}
	lanes := make([][]string, len(ids))
	for i := range ids {
		if model.ValidateLane(coreLanes[i]) == nil {
			lanes[i] = append(lanes[i], coreLanes[i])
		}
		for _, l := range scope.Lanes {
			if l != coreLanes[i] {
				lanes[i] = append(lanes[i], l)
			}
		}
	}
	scores, err := r.c.DelayedScores(ctx, w.sh, ids, lanes)
	if err != nil {
		return err
	}
	var cands []*candidate
	for i, id := range ids {
		lane := -1
		for j := range lanes[i] {
			if scores[i][j] != nil {
				lane = j
				break
			}
		}
		switch {
		case lane < 0 && coreLanes[i] == "":
			emit(model.Result{Partition: id.Partition, ExecutionID: id.Raw, Outcome: model.Failed, Why: model.WhyNoSuchExecution})
		case lane < 0:
			emit(model.Result{Partition: id.Partition, Lane: coreLanes[i], ExecutionID: id.Raw, Outcome: model.NotInDelayedSet, Why: model.WhyNotInScope})
		case *scores[i][lane] > float64(w.sh.NowMs()):
			emit(model.Result{Partition: id.Partition, Lane: lanes[i][lane], ExecutionID: id.Raw, Outcome: model.NotYetDue, Why: model.WhyScoreInFuture})
		default:
			cands = append(cands, &candidate{PartitionLane: model.PartitionLane{Partition: id.Partition, Lane: lanes[i][lane]}, member: id.Raw})
		}
	}
	if err := r.handle(ctx, w, cands, emit); err != nil {
		return err
	}
	return ctx.Err()
}

// handle decides every candidate's outcome: validation, backoff, one
// pipelined core read (filters and the shapes never handed to the
// function), then FCALL (or the dry-run prediction) in bounded batches.
func (r *Run) handle(ctx context.Context, w *worker, cands []*candidate, emit func(model.Result)) error {
	result := func(cd *candidate, res model.Result) {
		cd.stays = staysInSet(res.Outcome)
		res.Partition, res.Lane, res.ExecutionID = cd.Partition, cd.Lane, cd.member
		emit(res)
	}
	var live []*candidate
	for _, cd := range cands {
		id, err := model.ParseExecutionID(cd.member)
		switch {
		case err != nil:
			// Never handed to the function: it would build keys from garbage.
			result(cd, model.Result{Outcome: model.Failed, Why: model.WhyMalformed, WhyDetail: err.Error()})
		case id.Partition != cd.Partition:
			result(cd, model.Result{Outcome: model.Failed, Why: model.WhyWrongTag, WhyDetail: strconv.Itoa(id.Partition)})
		case r.opts.Skip[cd.member]:
			result(cd, model.Result{Outcome: model.SkippedBackoff, Why: model.WhyBackoff})
		default:
			cd.id = id
			live = append(live, cd)
		}
	}
	if len(live) == 0 {
		return nil
	}
	live, repairs, err := r.precheck(ctx, w, live, result)
	if err != nil {
		return err
	}
	if err := r.repair(ctx, w, repairs, result); err != nil {
		return err
	}
	// Batches go out concurrently, at most Pipelines per primary in flight,
	// so even a single delayed set keeps the server busy while the client
	// decodes; the step waits for all of them because the cursors depend
	// on their outcomes.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fatal error
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return fatal != nil
	}
	for start := 0; start < len(live) && ctx.Err() == nil && !failed(); {
		want := min(w.sizer.next(), len(live)-start)
		if r.rate != nil {
			// --rate limits on top of the stall budget: a batch is never
			// bigger than the limiter's burst, nor than the budget allows.
			want = min(want, r.rate.Burst())
		}
		n := r.budget.reserve(want)
		if n == 0 {
			break
		}
		if r.rate != nil {
			if err := r.rate.WaitN(ctx, n); err != nil {
				r.budget.settle(n, 0)
				break
			}
		}
		if err := r.beforeWrite(); err != nil {
			r.budget.settle(n, 0)
			mu.Lock()
			if fatal == nil {
				fatal = err
			}
			mu.Unlock()
			break
		}
		batch := live[start : start+n]
		start += n
		w.inflight <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-w.inflight; wg.Done() }()
			var used int64
			var err error
			if r.opts.DryRun {
				used = r.predict(w, batch, result)
			} else {
				used, err = r.promote(ctx, w, batch, result)
			}
			r.budget.settle(len(batch), used)
			if !r.opts.DryRun && err == nil {
				w.sizer.done(ctx)
			}
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

// precheck applies the filters (fail closed) and keeps every shape
// ff_promote_delayed would strand or fail on away from it: reported as
// needs_repair, or returned for repair with --repair.
func (r *Run) precheck(ctx context.Context, w *worker, cands []*candidate, result func(*candidate, model.Result)) (live, repairs []*candidate, err error) {
	reqs := make([]redisops.CoreRequest, len(cands))
	for i, cd := range cands {
		reqs[i] = redisops.CoreRequest{ID: cd.id, Lane: cd.Lane}
	}
	tagKeys := make([]string, len(r.opts.Tags))
	for i, t := range r.opts.Tags {
		tagKeys[i] = t.Key
	}
	views, err := r.c.ReadCores(ctx, w.sh, reqs, tagKeys)
	if ctx.Err() != nil {
		// Interrupted before these were looked at: no result for them,
		// they stay where they are (a cancelled read is not a failure).
		return nil, nil, ctx.Err()
	}
	if err != nil {
		return nil, nil, err
	}
	for i, cd := range cands {
		v := views[i]
		if v.Err != nil {
			result(cd, model.Result{Outcome: model.Failed, Error: v.Err.Error()})
			continue
		}
		if why, detail, ok := r.matches(v); !ok {
			result(cd, model.Result{Outcome: model.SkippedFilter, Why: why, WhyDetail: detail})
			continue
		}
		cd.view = v
		if v.Gone && !r.opts.DryRun && (v.Eligibility != "eligible_now" || v.InEligible) {
			// Promoted (and perhaps claimed) by someone else since its
			// page was read: nothing is left for the function to do.
			result(cd, model.Result{Outcome: model.NotDelayedCleaned, Why: model.WhyPromotedElsewhere})
			continue
		}
		if o, detail := Decide(v, w.sh.NowMs()); o == model.Unrepairable {
			// The function would write the core and drop the entry before
			// its ZADD failed: never called.
			result(cd, model.Result{Outcome: model.Unrepairable, Why: model.WhyBadScore, WhyDetail: detail})
			continue
		} else if o == model.WouldFail && detail == string(model.WhyWrongLane) {
			out := model.Failed
			if r.opts.DryRun {
				out = model.WouldFail
			}
			result(cd, model.Result{Outcome: out, Why: model.WhyWrongLane, WhyDetail: v.Lane})
			continue
		}
		if shape := RepairShape(v); shape != notRepairShape {
			if _, fault := model.PromoteScore(v.Priority, v.PrioritySet, v.CreatedAt, v.CreatedAtSet); fault != "" {
				// Its fix (or the promotion after it) would need that score.
				result(cd, model.Result{Outcome: model.Unrepairable, Why: model.WhyBadScore, WhyDetail: fault})
				continue
			}
			if r.opts.Repair && !r.opts.DryRun {
				repairs = append(repairs, cd)
			} else {
				result(cd, r.repairOutcome(shape.why()))
			}
			continue
		}
		live = append(live, cd)
	}
	return live, repairs, nil
}

func (s Shape) why() model.Why {
	if s == Misindexed {
		return model.WhyMisindexed
	}
	return model.WhyNoDelayUntil
}

// repair fixes each candidate atomically (redisops.Repair re-checks the
// shape under WATCH). Repairs are rare, so they run one transaction each.
func (r *Run) repair(ctx context.Context, w *worker, cands []*candidate, result func(*candidate, model.Result)) error {
	now := float64(w.sh.NowMs())
	for _, cd := range cands {
		shape := RepairShape(cd.view)
		action := redisops.ToEligible
		if shape == NoDelayUntil {
			action = redisops.SetDelayUntilAndPromote
		}
		still := func(st redisops.RepairState) bool {
			if st.DelayedScore == nil || RepairShape(st.CoreView) != shape {
				return false
			}
			if math.IsInf(*st.DelayedScore, 0) || math.IsNaN(*st.DelayedScore) {
				// Not a time to write into delay_until.
				return false
			}
			return shape != NoDelayUntil || *st.DelayedScore <= now
		}
		if w.noRepair != "" {
			result(cd, model.Result{Outcome: model.NeedsRepair, Why: model.WhyRepairRefused, WhyDetail: w.noRepair})
			continue
		}
		if err := r.beforeWrite(); err != nil {
			return err
		}
		res, err := r.c.Repair(ctx, w.sh, cd.id, cd.Lane, action, still)
		if redisops.KindOf(err) == redisops.KindNoPerm {
			// A refused WATCH, MULTI or EXEC writes nothing: the shape
			// stays reported and the run goes on promoting the rest.
			w.noRepair = aclRule(err)
			result(cd, model.Result{Outcome: model.NeedsRepair, Why: model.WhyRepairRefused, WhyDetail: w.noRepair})
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case res.Unrepairable != "":
			result(cd, model.Result{Outcome: model.Unrepairable, Why: model.WhyBadScore, WhyDetail: res.Unrepairable})
		case res.Gone || res.Conflict:
			result(cd, model.Result{Outcome: model.NeedsRepair, Why: model.WhyRepairConflict})
		case action == redisops.SetDelayUntilAndPromote && res.Promote.Outcome != model.Promoted:
			result(cd, model.Result{Outcome: res.Promote.Outcome, Error: res.Promote.Detail})
		default:
			result(cd, model.Result{Outcome: model.Repaired, Why: shape.why()})
		}
	}
	return nil
}

func (r *Run) repairOutcome(why model.Why) model.Result {
	if r.opts.DryRun {
		return model.Result{Outcome: model.WouldRepair, Why: why}
	}
	return model.Result{Outcome: model.NeedsRepair, Why: why}
}

// matches applies --namespace and --tag; a missing field fails closed.
func (r *Run) matches(v redisops.CoreView) (model.Why, string, bool) {
	if r.opts.Namespace != "" && v.Namespace != r.opts.Namespace {
		if v.Namespace == "" {
			return model.WhyNamespaceMissing, "", false
		}
		return model.WhyNamespace, v.Namespace, false
	}
	if len(r.opts.Tags) > 0 && v.TagsErr != nil {
		return model.WhyTagsUnreadable, "", false
	}
	for j, t := range r.opts.Tags {
		if v.Tags[j] == nil || *v.Tags[j] != t.Value {
			return model.WhyTag, t.Key, false
		}
	}
	return "", "", true
}

// promote sends one batch of FCALLs.
func (r *Run) promote(ctx context.Context, w *worker, batch []*candidate, result func(*candidate, model.Result)) (int64, error) {
	items := make([]redisops.PromoteItem, len(batch))
	for i, cd := range batch {
		items[i] = redisops.PromoteItem{ID: cd.id, Lane: cd.Lane}
	}
	replies, err := r.c.PromoteBatch(ctx, w.sh, items)
	var promoted int64
	for i, rep := range replies {
		if rep.Outcome == model.Promoted {
			promoted++
		}
		res := model.Result{Outcome: rep.Outcome, Error: rep.Detail}
		switch {
		case rep.Outcome == model.Failed && isLuaNilCompare(rep.Detail):
			res.Why = model.WhyLuaNil
		case rep.Outcome == model.NotDelayedCleaned:
			// The core said delayed a moment ago (it was read just before
			// the call): someone else promoted it in between.
			res.Why = model.WhyStaleEntry
			if o, _ := Decide(batch[i].view, w.sh.NowMs()); o == model.Promoted || o == model.WouldPromote {
				res.Why = model.WhyPromotedElsewhere
			}
		}
		result(batch[i], res)
	}
	return promoted, err
}

// predict reports, without writing, what the function would do with the
// candidates the precheck let through.
func (r *Run) predict(w *worker, batch []*candidate, result func(*candidate, model.Result)) int64 {
	var would int64
	for _, cd := range batch {
		o, detail := Decide(cd.view, w.sh.NowMs())
		res := model.Result{Outcome: o}
		switch o {
		case model.WouldPromote:
			would++
		case model.WouldClean:
			res.Why, res.WhyDetail = model.WhyCleaned, detail
		case model.WouldFail:
			res.Why = model.WhyNoNumericDelayUntil
		}
		result(cd, res)
	}
	return would
}

// beforeWrite asks the caller (a watch loop holding a lease) whether ffdelay
// may still write: the moment it may not, the run stops before its next
// batch or repair.
func (r *Run) beforeWrite() error {
	if r.opts.DryRun || r.opts.BeforeWrite == nil {
		return nil
	}
	return r.opts.BeforeWrite()
}

// aclRule is the rule a NOPERM refusal of a repair names (+exec, say), or
// the three a repair needs.
func aclRule(err error) string {
	msg := strings.ToLower(err.Error())
	for _, c := range []string{"watch", "multi", "exec"} {
		if strings.Contains(msg, "'"+c+"'") {
			return "+" + c
		}
	}
	return "+watch +multi +exec"
}
