package promote

import (
	"context"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

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
