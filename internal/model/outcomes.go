package model

// Outcome is what happened to one execution in a promote run.
type Outcome string

// Outcomes of ff_promote_delayed itself.
const (
	Promoted           Outcome = "promoted"
	NotYetDue          Outcome = "not_yet_due"
	NotFoundCleaned    Outcome = "not_found_cleaned"
	NotRunnableCleaned Outcome = "not_runnable_cleaned"
	NotDelayedCleaned  Outcome = "not_delayed_cleaned"
)

// Outcomes decided by ffdelay.
const (
	WouldPromote    Outcome = "would_promote"
	WouldClean      Outcome = "would_clean"
	WouldFail       Outcome = "would_fail"
	SkippedFilter   Outcome = "skipped_filter"
	SkippedBackoff  Outcome = "skipped_backoff"
	NotInDelayedSet Outcome = "not_in_delayed_set"
	Failed          Outcome = "failed"
	// NeedsRepair: an entry ff_promote_delayed would drop (misindexed
	// eligible) or fail on (no delay_until); never handed to it. Counted
	// as failed.
	NeedsRepair Outcome = "needs_repair"
	// Unrepairable: a due execution whose promotion or fix cannot write a
	// valid score (a field that is no number: nan, garbage). ffdelay never
	// calls the function or a repair on it: the function would write the
	// core and remove the delayed entry before its ZADD failed, leaving it
	// in no set. Counted in Failed; the reason names the field and value.
	Unrepairable Outcome = "unrepairable"
	// WouldRepair is NeedsRepair in a dry run.
	WouldRepair Outcome = "would_repair"
	// Repaired: fixed by --repair.
	Repaired Outcome = "repaired"
	// Unconfirmed: the call was sent but its reply never came (the
	// connection was lost or timed out): the function may have run. Not
	// counted in Failed; the run reports the lost connection.
	Unconfirmed Outcome = "unconfirmed"
	// NotSent: the server refused the call before running it (LOADING,
	// TRYAGAIN, MOVED, ASK, NOPERM, CLUSTERDOWN, a missing function), or
	// it never reached the server: nothing was written and the execution
	// stays due for the next run. Not counted in Failed; the run stops
	// with the refusal.
	NotSent Outcome = "not_sent"
)

// WriteOutcomes are the outcomes a run that writes can give an execution
// (a dry run's would_* and the watch loop's skipped_backoff aside): the
// series a standby's promotion counter has from its start, at 0.
var WriteOutcomes = []Outcome{Promoted, NotYetDue, NotFoundCleaned, NotRunnableCleaned, NotDelayedCleaned,
	Repaired, NeedsRepair, Unrepairable, Failed, Unconfirmed, NotSent, SkippedFilter, NotInDelayedSet}

// Result is the outcome for one execution.
type Result struct {
	Partition   int     `json:"partition"`
	Lane        string  `json:"lane"`
	ExecutionID string  `json:"execution_id"`
	Outcome     Outcome `json:"outcome"`
	// Reason says why a dry run would clean or fail, why it was skipped or
	// needs repair. The engine sets Why (and WhyDetail); output words it.
	Reason    string `json:"reason,omitempty"`
	Why       Why    `json:"-"`
	WhyDetail string `json:"-"`
	Error     string `json:"error,omitempty"`
}

// Why is the engine's reason for an outcome, as a kind; output/reasons.go
// turns it into the sentence a person reads.
type Why string

// Reasons the engine gives.
const (
	// WhyCleaned: a dry run's would_clean; WhyDetail is the function's
	// *_cleaned outcome.
	WhyCleaned Why = "cleaned"
	// WhyNoNumericDelayUntil: a dry run's would_fail.
	WhyNoNumericDelayUntil Why = "no_numeric_delay_until"
	WhyMisindexed          Why = "misindexed"
	WhyNoDelayUntil        Why = "no_delay_until"
	WhyBackoff             Why = "backoff"
	// WhyNamespace: another namespace; WhyDetail is the one found.
	WhyNamespace        Why = "namespace"
	WhyNamespaceMissing Why = "namespace_missing"
	// WhyTag: a tag does not match; WhyDetail is its key.
	WhyTag            Why = "tag"
	WhyTagsUnreadable Why = "tags_unreadable"
	WhyNotInScope     Why = "not_in_scope"
	// WhyRepairRefused: --repair, but this user may not run what a repair
	// runs (WatchDetail names the rules).
	WhyRepairRefused Why = "repair_refused"
	// WhyRepairServerRefused: --repair, but the server refused a repair
	// before running any of it (OOM at maxmemory, say); the detail is its
	// words, and repairs are off for the rest of the run.
	WhyRepairServerRefused Why = "repair_server_refused"
	// WhyBadScore: unrepairable; WhyDetail names the field and its value.
	WhyBadScore Why = "bad_score"
	// WhyWrongLane: a delayed core's entry in the delayed set of a lane
	// other than its lane_id (WhyDetail): the function, called with that
	// lane's keys, would make it eligible in the wrong lane.
	WhyWrongLane Why = "wrong_lane"
	// WhyPromotedElsewhere: not_delayed_cleaned for an execution whose core
	// was delayed when ffdelay read it just before the call: another
	// promoter (the engine, another ffdelay) promoted it in between.
	WhyPromotedElsewhere Why = "promoted_elsewhere"
	// WhyStaleEntry: not_delayed_cleaned for an entry whose core was
	// already not delayed: a stale entry the function removed.
	WhyStaleEntry Why = "stale_entry"
	// WhyNoSuchExecution: --execution names an id with no core and in no
	// delayed set of the lanes in scope.
	WhyNoSuchExecution Why = "no_such_execution"
	WhyScoreInFuture   Why = "score_in_future"
	// WhyLuaNil: the function failed comparing delay_until with nil.
	WhyLuaNil Why = "lua_nil_compare"
	// WhyMalformed and WhyWrongTag: members never handed to the function;
	// WhyDetail is the parse error, or the member's own partition.
	WhyMalformed Why = "malformed_member"
	WhyWrongTag  Why = "wrong_tag"
	// WhyRepairConflict: the entry changed while --repair looked at it.
	WhyRepairConflict Why = "repair_conflict"
)

// PromoteTotals counts outcomes. Cleaned sums the three *_cleaned outcomes,
// Skipped sums skipped_filter, skipped_backoff and not_in_delayed_set.
type PromoteTotals struct {
	Promoted     int64 `json:"promoted"`
	WouldPromote int64 `json:"would_promote"`
	WouldClean   int64 `json:"would_clean"`
	WouldFail    int64 `json:"would_fail"`
	WouldRepair  int64 `json:"would_repair"`
	NotYetDue    int64 `json:"not_yet_due"`
	Cleaned      int64 `json:"cleaned"`
	Skipped      int64 `json:"skipped"`
	Failed       int64 `json:"failed"`
	Repaired     int64 `json:"repaired"`
	// NeedsRepair counts the needs_repair outcomes within Failed.
	NeedsRepair int64 `json:"needs_repair"`
	// PromotedElsewhere counts the not_delayed_cleaned outcomes of
	// executions another promoter promoted between ffdelay's read and its
	// call; they are not in Cleaned, which counts stale entries.
	PromotedElsewhere int64 `json:"promoted_elsewhere"`
	// Unconfirmed counts calls sent whose reply was lost: each may or may
	// not have promoted its execution.
	Unconfirmed int64 `json:"unconfirmed"`
	// NotSent counts calls the server refused before running them (or
	// that never reached it): they stay due for the next run.
	NotSent int64 `json:"not_sent"`
	// Examined counts every result: each lands in exactly one of the
	// counts above (Failed holding NeedsRepair), so Examined == Sum().
	Examined int64 `json:"examined"`
}

// Sum adds up the counts that split the examined executions between them:
// every outcome is in exactly one (needs_repair and unrepairable within
// Failed).
func (t PromoteTotals) Sum() int64 {
	return t.Promoted + t.WouldPromote + t.WouldClean + t.WouldFail + t.WouldRepair + t.NotYetDue + t.Cleaned +
		t.Skipped + t.Failed + t.Repaired + t.PromotedElsewhere + t.Unconfirmed + t.NotSent
}

// Counts lists every count by its JSON name, in a fixed order: what the
// metrics file and the standby's counters label their series with.
func (t PromoteTotals) Counts() []NamedCount {
	return []NamedCount{{"promoted", t.Promoted}, {"would_promote", t.WouldPromote}, {"would_clean", t.WouldClean},
		{"would_fail", t.WouldFail}, {"would_repair", t.WouldRepair}, {"not_yet_due", t.NotYetDue}, {"cleaned", t.Cleaned},
		{"skipped", t.Skipped}, {"failed", t.Failed}, {"repaired", t.Repaired}, {"needs_repair", t.NeedsRepair},
		{"promoted_elsewhere", t.PromotedElsewhere}, {"unconfirmed", t.Unconfirmed}, {"not_sent", t.NotSent}}
}

// NamedCount is one of PromoteTotals' counts with its JSON name.
type NamedCount struct {
	Name  string
	Value int64
}

// AddResult counts one result: as Add, except that an execution another
// promoter got to first is counted apart from the stale entries.
func (t *PromoteTotals) AddResult(r Result) {
	if r.Outcome == NotDelayedCleaned && r.Why == WhyPromotedElsewhere {
		t.Examined++
		t.PromotedElsewhere++
		return
	}
	t.Add(r.Outcome)
}

// Add counts one outcome.
func (t *PromoteTotals) Add(o Outcome) {
	t.Examined++
	switch o {
	case Promoted:
		t.Promoted++
	case WouldPromote:
		t.WouldPromote++
	case WouldClean:
		t.WouldClean++
	case WouldFail:
		t.WouldFail++
	case WouldRepair:
		t.WouldRepair++
	case Repaired:
		t.Repaired++
	case Unconfirmed:
		t.Unconfirmed++
	case NotSent:
		t.NotSent++
	case NeedsRepair:
		t.NeedsRepair++
		t.Failed++
	case NotYetDue:
		t.NotYetDue++
	case NotFoundCleaned, NotRunnableCleaned, NotDelayedCleaned:
		t.Cleaned++
	case SkippedFilter, SkippedBackoff, NotInDelayedSet:
		t.Skipped++
	default:
		t.Failed++
	}
}

// Merge adds o to t.
func (t *PromoteTotals) Merge(o PromoteTotals) {
	t.Promoted += o.Promoted
	t.WouldPromote += o.WouldPromote
	t.WouldClean += o.WouldClean
	t.WouldFail += o.WouldFail
	t.WouldRepair += o.WouldRepair
	t.Repaired += o.Repaired
	t.NeedsRepair += o.NeedsRepair
	t.NotYetDue += o.NotYetDue
	t.Cleaned += o.Cleaned
	t.Skipped += o.Skipped
	t.Failed += o.Failed
	t.PromotedElsewhere += o.PromotedElsewhere
	t.Unconfirmed += o.Unconfirmed
	t.NotSent += o.NotSent
	t.Examined += o.Examined
}
