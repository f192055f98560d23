package redisops

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// PromoteFunction is FlowFabric's delayed-promotion function.
const PromoteFunction = "ff_promote_delayed"

// fcall and promoteFunction are boxed once for the hot path.
var fcall, promoteFunction any = "fcall", PromoteFunction

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
	if len(cmds) > 0 {
		if gateErr := withheld(firstErr(err, cmds[0].Err())); gateErr != nil {
			// The write gate held the batch back (the lease is gone):
			// nothing was written and nothing is reported; the run stops.
			return nil, gateErr
		}
	}
	// An error no command carries is a connection that could not be set
	// up: nothing of the batch was written.
	setupErr := err
	for _, cmd := range cmds {
		if cmd.Err() != nil {
			setupErr = nil
			break
		}
	}
	out := make([]PromoteReply, len(items))
	// Every item gets exactly one outcome, from its own reply: a call the
	// server refused before running it, or that never left ffdelay, was not
	// sent (it stays due), a call whose reply was lost after it was written
	// is unconfirmed, the rest say what the function did. The first refusal
	// or loss stops the run after this batch.
	var stop error
	for i := range items {
		v, err := cmds[i].Result()
		if err == nil && setupErr != nil {
			err = setupErr
		}
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
