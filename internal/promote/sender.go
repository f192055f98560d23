package promote

import (
	"context"
	"sync"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

// send is the sender stage: it takes the reader's candidates, sizes each
// batch for --max-stall, reserves --limit and waits for --rate, and keeps
// up to Pipelines batches in flight. It stops at the first fatal error, at
// the --limit, or when ctx is cancelled; batches in flight complete.
func (r *Run) send(ctx context.Context, w *worker, ready <-chan []*candidate, result func(*candidate, model.Result)) error {
	var fatal firstError
	jobs := make(chan sendJob)
	var wg sync.WaitGroup
	for range cap(w.inflight) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.sendJobs(ctx, w, jobs, result, &fatal)
		}()
	}
	var queue []*candidate
	open := true
	for fatal.get() == nil && ctx.Err() == nil {
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
		jobs <- sendJob{batch: batch, seq: w.sizer.launch()}
	}
	close(jobs)
	wg.Wait()
	w.sizer.join()
	return fatal.get()
}

// sendJob is one batch for a sender, with its place in the sizer's order.
type sendJob struct {
	batch []*candidate
	seq   int
}

// sendJobs is one of the Pipelines long-lived goroutines that send a
// primary's batches (one started per batch would grow its stack through
// go-redis's calls every time: 7% of a profile). Each job holds an
// in-flight slot, given back when its batch is done.
func (r *Run) sendJobs(ctx context.Context, w *worker, jobs <-chan sendJob, result func(*candidate, model.Result), fatal *firstError) {
	for j := range jobs {
		var used int64
		var err error
		switch {
		case r.opts.DryRun:
			used = r.predict(w, j.batch, result)
		default:
			// Asked here, with the slot held, right before the batch is
			// sent: a lease lost while the batch waited for its slot
			// stops it unsent (it stays due, with no result, like the
			// candidates queued behind it).
			if err = r.beforeWrite(); err == nil {
				used, err = r.promote(ctx, w, j.seq, j.batch, result)
			}
		}
		r.budget.settle(len(j.batch), used)
		if err != nil {
			fatal.set(err)
		}
		<-w.inflight
	}
}

// firstError keeps the first error set, for goroutines that share one.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
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
