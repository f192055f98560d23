// Package model holds the plain values that cross ffdelay's packages:
// execution ids, scopes, outcomes and results. The engine and redisops
// produce them, output renders them, commands build them from flags.
package model

import (
	"fmt"
	"sort"
	"strconv"
)

// JSON names of the structs below are part of ffdelay's contract
// (shared/spec/cli.md).

// Scope is the set of partitions and lanes a command works on.
type Scope struct {
	// Count is the configured partition count.
	Count int
	// Partitions are the partitions to visit, ascending.
	Partitions []int
	// Lanes are the lanes to visit.
	Lanes []string
	// Unregistered marks lanes found only by --discover-lanes.
	Unregistered map[string]bool
	// Extra are delayed sets found by discovery on partitions >= Count; they
	// are visited too, since the engine never will.
	Extra []PartitionLane
}

// PartitionLane names one delayed set.
type PartitionLane struct {
	Partition int    `json:"partition"`
	Lane      string `json:"lane"`
}

// Group is one partition and lane's delayed set as list reports it.
type Group struct {
	Partition    int    `json:"partition"`
	Lane         string `json:"lane"`
	Delayed      int64  `json:"delayed"`
	Due          int64  `json:"due"`
	OldestDueMs  *int64 `json:"oldest_due_ms"`
	MaxOverdueMs int64  `json:"max_overdue_ms"`
	NextDueMs    *int64 `json:"next_due_ms"`
	ServerTimeMs int64  `json:"server_time_ms"`
	Unregistered bool   `json:"unregistered"`
	// Misplaced counts entries whose score is not a due time (below
	// 2000-01-01: an eligible-style score left in the delayed set). They
	// are in Due, but not in the overdue figures or Executions.
	Misplaced  int64          `json:"misplaced"`
	Executions []DueExecution `json:"executions"`
	// NewlyDue counts the entries that fell due since an earlier reading
	// (ListRun.SinceMs): top's arrivals.
	NewlyDue int64 `json:"-"`
}

// MinDueTimeMs is the lowest delayed score taken as a due time
// (2000-01-01). FlowFabric writes due times as ms timestamps; a lower score
// is an eligible-style one, -(priority*1e12)+created_at, left in a delayed
// set (a misindexed execution: for priority 2 it reads as 1963). It is due
// by the engine's rule, but "overdue by 63 years" would be a lie: such
// entries are counted as misplaced instead.
const MinDueTimeMs = 946684800000

// DueExecution is one due member of a delayed set.
type DueExecution struct {
	ExecutionID  string `json:"execution_id"`
	DelayUntilMs int64  `json:"delay_until_ms"`
	OverdueMs    int64  `json:"overdue_ms"`
}

// ListTotals covers every group scanned; Groups counts the groups shown.
type ListTotals struct {
	Delayed   int64 `json:"delayed"`
	Due       int64 `json:"due"`
	Groups    int64 `json:"groups"`
	Misplaced int64 `json:"misplaced"`
}

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

// Inspection is everything about one execution's delay.
type Inspection struct {
	ExecutionID   string            `json:"execution_id"`
	Partition     int               `json:"partition"`
	Lane          string            `json:"lane"`
	Found         bool              `json:"found"`
	Core          map[string]string `json:"core"`
	Tags          map[string]string `json:"tags"`
	InDelayed     bool              `json:"in_delayed"`
	DelayedScore  *Score            `json:"delayed_score"`
	InEligible    bool              `json:"in_eligible"`
	EligibleScore *Score            `json:"eligible_score"`
	Diagnosis     string            `json:"diagnosis"`
	// Stuck marks diagnoses the engine cannot resolve by itself.
	Stuck        bool  `json:"stuck"`
	ServerTimeMs int64 `json:"server_time_ms"`
}

// TagFilter selects executions whose tags hash has Key = Value.
type TagFilter struct{ Key, Value string }

// ExecutionID is a parsed FlowFabric execution id, "{fp:N}:<uuid>".
type ExecutionID struct {
	Partition int
	Raw       string
}

// ParseExecutionID checks that s is an id as FlowFabric mints them: the tag
// "{fp:N}" with N a 16-bit number without leading zeros, a colon, then a
// canonical hyphenated uuid in either case.
func ParseExecutionID(s string) (ExecutionID, error) {
	const prefix = "{fp:"
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return ExecutionID{}, fmt.Errorf("execution id %q must look like {fp:N}:<uuid>", s)
	}
	rest := s[len(prefix):]
	end := 0
	for end < len(rest) && rest[end] != '}' {
		end++
	}
	if end == len(rest) {
		return ExecutionID{}, fmt.Errorf("execution id %q must look like {fp:N}:<uuid>", s)
	}
	p, err := ParsePartitionNumber(rest[:end])
	if err != nil {
		return ExecutionID{}, fmt.Errorf("execution id %q: %v", s, err)
	}
	rest = rest[end+1:]
	if len(rest) == 0 || rest[0] != ':' || !isUUID(rest[1:]) {
		return ExecutionID{}, fmt.Errorf("execution id %q must end in a hyphenated uuid after the tag {fp:%d}", s, p)
	}
	return ExecutionID{Partition: p, Raw: s}, nil
}

// ParsePartitionNumber accepts decimal 0..65535 without leading zeros.
func ParsePartitionNumber(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("partition number is empty")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("partition number %q has a leading zero", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("partition number %q is not a decimal number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("partition number %q does not fit in 16 bits", s)
	}
	return int(n), nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// maxLaneLen is FlowFabric's limit on a lane id.
const maxLaneLen = 64

// ValidateLane checks FlowFabric's lane id rule: 1 to 64 bytes of printable
// ASCII (space, ':', '{', '}' and '*' included).
func ValidateLane(lane string) error {
	if lane == "" {
		return fmt.Errorf("lane name is empty")
	}
	if len(lane) > maxLaneLen {
		return fmt.Errorf("lane name %.20q... is %d bytes; FlowFabric allows at most %d", lane, len(lane), maxLaneLen)
	}
	for i := 0; i < len(lane); i++ {
		if lane[i] < 0x20 || lane[i] > 0x7e {
			return fmt.Errorf("lane name %q has byte 0x%02x; only printable ASCII is allowed", lane, lane[i])
		}
	}
	return nil
}

// Groups expands the scope into the (partition, lane) pairs of the given
// partitions (one primary's share), Extra sets included. The work grows
// with the sets that exist: Extra pairs are looked up by partition.
func (s Scope) Groups(partitions []int) []PartitionLane {
	inScope := make(map[int]bool, len(s.Partitions))
	for _, p := range s.Partitions {
		inScope[p] = true
	}
	lanes := make(map[string]bool, len(s.Lanes))
	for _, l := range s.Lanes {
		lanes[l] = true
	}
	extra := map[int][]PartitionLane{}
	for _, e := range s.Extra {
		extra[e.Partition] = append(extra[e.Partition], e)
	}
	var out []PartitionLane
	for _, p := range partitions {
		if inScope[p] {
			for _, l := range s.Lanes {
				out = append(out, PartitionLane{Partition: p, Lane: l})
			}
		}
		for _, e := range extra[p] {
			if !(inScope[p] && lanes[e.Lane]) {
				out = append(out, e)
			}
		}
	}
	return out
}

// AllPartitions lists every partition the scope touches, Extra included.
func (s Scope) AllPartitions() []int {
	seen := map[int]bool{}
	var out []int
	for _, p := range s.Partitions {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, e := range s.Extra {
		if !seen[e.Partition] {
			seen[e.Partition] = true
			out = append(out, e.Partition)
		}
	}
	sort.Ints(out)
	return out
}

// BatchStats is how a run's FCALL batches were sized under --max-stall.
type BatchStats struct {
	Batches int64 `json:"batches"`
	Max     int   `json:"max_batch"`
	Last    int   `json:"last_batch"`
	// PerCallUs is the server's measured time per FCALL, in µs (0 when not
	// measured).
	PerCallUs float64 `json:"per_call_us"`
	// MaxStallMs is the budget the batches were sized for.
	MaxStallMs float64 `json:"max_stall_ms"`
}
