package promote

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"golang.org/x/sync/errgroup"
)

// candidate is one member read from a delayed set (or named with
// --execution).
type candidate struct {
	model.PartitionLane
	member string
	id     model.ExecutionID
	view   redisops.CoreView
	// cur and score say where the member was read, so its outcome can tell
	// the cursor whether it stays in the set; cur is nil for --execution.
	cur   *cursor
	score float64
}

// readAhead is how many chunks of checked candidates (coreChunk each) the
// reader may have ready beyond the batches in flight: enough that the
// sender never waits for a read, little enough to hold in memory.
const readAhead = 2

// coreChunk is how many cores one pipelined read asks for: a quarter of a
// millisecond of server time or so (an HMGET of eight fields measured 3.7
// µs inside the server on the bench machine, and as much again to read and
// answer it), so a read sitting beside the FCALL batches in flight adds
// little to what another client waits for.
const coreChunk = 64

// runSets walks one primary's sets in two stages that run at the same
// time: the reader reads pages and cores and keeps every execution the
// function must not see away from it; the sender hands the rest to
// ff_promote_delayed in batches. While a batch of FCALLs runs, the next
// cores are already being read, so the server never waits for ffdelay
// between a read and an FCALL; an execution is still read before its own
// FCALL, never after.
func (r *Run) runSets(ctx context.Context, w *worker, emit func(model.Result)) error {
	ready := make(chan []*candidate, readAhead)
	g, gctx := errgroup.WithContext(ctx)
	rctx, stopReader := context.WithCancel(gctx)
	defer stopReader()
	result := r.resultFunc(emit)
	g.Go(func() error {
		defer close(ready)
		err := r.read(rctx, w, emit, result, ready)
		if errors.Is(err, context.Canceled) && rctx.Err() != nil && gctx.Err() == nil {
			// Stopped by the sender (the --limit is reached): not a failure.
			return nil
		}
		return err
	})
	g.Go(func() error {
		defer stopReader()
		return r.send(gctx, w, ready, result)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// resultFunc emits a candidate's result and tells its cursor whether the
// member stays in the set.
func (r *Run) resultFunc(emit func(model.Result)) func(*candidate, model.Result) {
	return func(cd *candidate, res model.Result) {
		if cd.cur != nil {
			cd.cur.settle(cd.score, cd.member, staysInSet(res.Outcome))
		}
		res.Partition, res.Lane, res.ExecutionID = cd.Partition, cd.Lane, cd.member
		emit(res)
	}
}

// read is the reader stage: it reads one page from each of several
// cursors (up to readBudget members in one pipeline), then the cores of
// those members a chunk at a time, and passes each chunk's candidates for
// the function to the sender. The next pages are read while this page's
// cores are: a cursor resumes from the last member read, not from the
// outcomes, so nothing waits for a round trip it does not need. A cursor
// with more to read goes back in the queue.
func (r *Run) read(ctx context.Context, w *worker, emit func(model.Result), result func(*candidate, model.Result), ready chan<- []*candidate) error {
	queue := w.cursors
	next := r.readPages(ctx, w, &queue)
	defer func() {
		if next != nil {
			<-next.done
		}
	}()
	for next != nil {
		cur := next
		<-cur.done
		next = nil
		if ctx.Err() != nil {
			// Interrupted: what was not read is left as it is, with no result.
			return ctx.Err()
		}
		if cur.err != nil {
			return cur.err
		}
		var cands []*candidate
		for i, c := range cur.cursors {
			pg := cur.pages[i]
			if pg.Err != nil {
				emit(model.Result{Partition: c.Partition, Lane: c.Lane, Outcome: model.Failed, Error: pg.Err.Error()})
				continue
			}
			from := c.fresh(pg.Members, pg.Scores)
			for j := from; j < len(pg.Members); j++ {
				cands = append(cands, &candidate{PartitionLane: c.PartitionLane, member: pg.Members[j], cur: c, score: pg.Scores[j]})
			}
			if pg.Count < int64(pageSize) {
				// Large members: the next reads of this set ask for as many
				// as fit in one reply.
				c.count = pg.Count
			}
			if int64(len(pg.Members)) == pg.Asked && !c.exhausted() {
				queue = append(queue, c)
			}
		}
		if !r.budget.exhausted() {
			next = r.readPages(ctx, w, &queue)
		}
		for start := 0; start < len(cands); start += coreChunk {
			live, err := r.classify(ctx, w, cands[start:min(start+coreChunk, len(cands))], result)
			if err != nil {
				return err
			}
			if len(live) == 0 {
				continue
			}
			select {
			case ready <- live:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return ctx.Err()
}

// pageRead is one pipelined read of pages, in flight or done.
type pageRead struct {
	cursors []*cursor
	pages   []redisops.Page
	err     error
	done    chan struct{}
}

// readPages starts reading a page of the cursors at the head of the queue
// (as many as make readBudget members) and takes them off it; nil when the
// queue is empty.
func (r *Run) readPages(ctx context.Context, w *worker, queue *[]*cursor) *pageRead {
	if len(*queue) == 0 || ctx.Err() != nil {
		return nil
	}
	pr := &pageRead{done: make(chan struct{})}
	var want int64
	for len(*queue) > 0 && want < readBudget {
		c := (*queue)[0]
		*queue = (*queue)[1:]
		pr.cursors = append(pr.cursors, c)
		// A set that yields more than was due when planned still reads a
		// whole page.
		d := c.due
		if d <= 0 || d > pageSize {
			d = pageSize
		}
		want += d
	}
	reqs := make([]redisops.PageRequest, len(pr.cursors))
	for i, c := range pr.cursors {
		reqs[i] = c.request()
	}
	go func() {
		defer close(pr.done)
		pr.pages, pr.err = r.c.ReadPages(ctx, w.sh, reqs)
	}()
	return pr
}

// send is the sender stage: it takes the reader's candidates, sizes each
// batch for --max-stall, reserves --limit and waits for --rate, and keeps
// up to Pipelines batches in flight. It stops at the first fatal error, at
// the --limit, or when ctx is cancelled; batches in flight complete.
func (r *Run) send(ctx context.Context, w *worker, ready <-chan []*candidate, result func(*candidate, model.Result)) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fatal error
	fail := func(err error) {
		mu.Lock()
		if fatal == nil {
			fatal = err
		}
		mu.Unlock()
	}
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return fatal != nil
	}
	// Pipelines long-lived goroutines send the batches: one started per
	// batch would grow its stack through go-redis's calls every time (7% of
	// a profile).
	type job struct {
		batch []*candidate
		seq   int
	}
	jobs := make(chan job)
	for range cap(w.inflight) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var used int64
				var err error
				switch {
				case r.opts.DryRun:
					used = r.predict(w, j.batch, result)
				default:
					// Asked here, with the slot held, right before the
					// batch is sent: a lease lost while the batch waited
					// for its slot stops it unsent (it stays due, with no
					// result, like the candidates queued behind it).
					if err = r.beforeWrite(); err == nil {
						used, err = r.promote(ctx, w, j.seq, j.batch, result)
					}
				}
				r.budget.settle(len(j.batch), used)
				if err != nil {
					fail(err)
				}
				<-w.inflight
			}
		}()
	}
	var queue []*candidate
	open := true
	for !failed() && ctx.Err() == nil {
		if len(queue) == 0 {
			if !open {
				break
			}
			select {
			case chunk, ok := <-ready:
				if !ok {
					open = false
					continue
				}
				queue = chunk
			case <-ctx.Done():
			}
			continue
		}
		want := w.sizer.next()
		if r.rate != nil {
			// --rate limits on top of the stall budget: a batch is never
			// bigger than the limiter's burst, nor than the budget allows.
			want = min(want, r.rate.Burst())
		}
	topUp:
		for open && len(queue) < want {
			select {
			case chunk, ok := <-ready:
				if !ok {
					open = false
					break topUp
				}
				queue = append(queue, chunk...)
			default:
				break topUp
			}
		}
		n := r.budget.reserve(min(want, len(queue)))
		if n == 0 {
			break
		}
		if r.rate != nil {
			if err := r.rate.WaitN(ctx, n); err != nil {
				r.budget.settle(n, 0)
				break
			}
		}
		batch := queue[:n:n]
		queue = queue[n:]
		if !r.opts.DryRun {
			w.sizer.measureBase(func() (time.Duration, error) { return r.c.RoundTrip(ctx, w.sh) })
		}
		w.inflight <- struct{}{}
		jobs <- job{batch: batch, seq: w.sizer.launch()}
	}
	close(jobs)
	wg.Wait()
	return fatal
}

// runIDs handles --execution: find each id's delayed set among the lanes in
// scope (one pipelined ZSCORE pass), then treat it like a page member.
func (r *Run) runIDs(ctx context.Context, w *worker, emit func(model.Result)) error {
	result := r.resultFunc(emit)
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
	live, err := r.classify(ctx, w, cands, result)
	if err != nil {
		return err
	}
	ready := make(chan []*candidate, 1)
	ready <- live
	close(ready)
	if err := r.send(ctx, w, ready, result); err != nil {
		return err
	}
	return ctx.Err()
}

// classify decides the outcome of every candidate the function must not
// see: malformed, misplaced, in backoff, filtered out (one pipelined core
// read), or in a shape the function would strand or fail on (reported, or
// repaired with --repair). It returns the rest, for the function.
func (r *Run) classify(ctx context.Context, w *worker, cands []*candidate, result func(*candidate, model.Result)) ([]*candidate, error) {
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
		return nil, nil
	}
	live, repairs, err := r.precheck(ctx, w, live, result)
	if err != nil {
		return nil, err
	}
	if err := r.repair(ctx, w, repairs, result); err != nil {
		return nil, err
	}
	return live, nil
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
			r.c.ForgetPermissions(w.sh)
			w.noRepair = aclRule(err)
			result(cd, model.Result{Outcome: model.NeedsRepair, Why: model.WhyRepairRefused, WhyDetail: w.noRepair})
			continue
		}
		switch {
		case res.Unconfirmed:
			result(cd, model.Result{Outcome: model.Unconfirmed, Error: "no reply: the connection was lost after the repair was sent, so it may have been applied; ffdelay inspect says where the execution is"})
			return err
		case err != nil && redisops.FateOf(err) == redisops.Ran:
			// The server answered with an error: the repair failed there.
			result(cd, model.Result{Outcome: model.Failed, Error: err.Error()})
			return err
		case err != nil:
			result(cd, model.Result{Outcome: model.NotSent, Error: "repair not applied: " + err.Error()})
			return err
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
func (r *Run) promote(ctx context.Context, w *worker, seq int, batch []*candidate, result func(*candidate, model.Result)) (int64, error) {
	items := make([]redisops.PromoteItem, len(batch))
	for i, cd := range batch {
		items[i] = redisops.PromoteItem{ID: cd.id, Lane: cd.Lane}
	}
	sent := time.Now()
	replies, err := r.c.PromoteBatch(ctx, w.sh, items)
	if err == nil {
		w.sizer.done(seq, len(items), sent, time.Now())
	}
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
