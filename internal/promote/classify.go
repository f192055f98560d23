package promote

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

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
		if shape := repairShape(v); shape != notRepairShape {
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
		shape := repairShape(cd.view)
		action := redisops.ToEligible
		if shape == NoDelayUntil {
			action = redisops.SetDelayUntilAndPromote
		}
		still := func(st redisops.RepairState) bool {
			if st.DelayedScore == nil || repairShape(st.CoreView) != shape {
				return false
			}
			if math.IsInf(*st.DelayedScore, 0) || math.IsNaN(*st.DelayedScore) {
				// Not a time to write into delay_until.
				return false
			}
			return shape != NoDelayUntil || *st.DelayedScore <= now
		}
		if w.noRepair != "" {
			result(cd, model.Result{Outcome: model.NeedsRepair, Why: w.noRepairWhy, WhyDetail: w.noRepair})
			continue
		}
		if err := r.beforeWrite(); err != nil {
			return err
		}
		res, err := r.c.Repair(ctx, w.sh, cd.id, cd.Lane, action, still)
		switch {
		case res.Withheld:
			// The lease went just before the transaction left: nothing
			// was written, and, as for a batch held back, nothing is
			// reported; the run stops.
			return err
		case res.Refused:
			// Refused before anything ran (WATCH or MULTI refused, a
			// command refused as it was queued: an ACL rule, OOM): the
			// next repair would meet the same refusal, so repairs stop
			// for the run, as when the probe finds a rule missing, and
			// the run goes on promoting the rest.
			r.c.ForgetPermissions(w.sh)
			w.noRepairWhy, w.noRepair = refusalOf(err)
			result(cd, model.Result{Outcome: model.NotSent, Why: w.noRepairWhy, WhyDetail: w.noRepair,
				Error: "repair not applied: " + err.Error()})
			continue
		case res.NotSent:
			result(cd, model.Result{Outcome: model.NotSent, Error: "repair not applied: " + err.Error()})
			return err
		case res.Unconfirmed:
			result(cd, model.Result{Outcome: model.Unconfirmed, Error: "no reply: the connection was lost after the repair was sent, so it may have been applied; ffdelay inspect says where the execution is"})
			return err
		case err != nil && res.Applied:
			// The transaction ran and a command inside it failed (the
			// function refused part-way): the run stops.
			detail := res.Promote.Detail
			if detail == "" {
				detail = err.Error()
			}
			result(cd, model.Result{Outcome: model.Failed, Error: detail})
			return err
		case err != nil:
			// The server answered with an error: the repair failed there.
			result(cd, model.Result{Outcome: model.Failed, Error: err.Error()})
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

// refusalOf says why the server refused a repair: the ACL rule a NOPERM
// refusal of WATCH, MULTI or EXEC names (+exec, say, or the three a repair
// needs), or the server's own first line (OOM at maxmemory, say).
func refusalOf(err error) (model.Why, string) {
	if redisops.KindOf(err) != redisops.KindNoPerm {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return model.WhyRepairServerRefused, msg
	}
	msg := strings.ToLower(err.Error())
	for _, c := range []string{"watch", "multi", "exec"} {
		if strings.Contains(msg, "'"+c+"'") {
			return model.WhyRepairRefused, "+" + c
		}
	}
	return model.WhyRepairRefused, "+watch +multi +exec"
}
