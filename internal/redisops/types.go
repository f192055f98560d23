package redisops

// The structs below are what redisops hands to the rest of ffdelay. Their
// JSON names are part of ffdelay's contract (shared/spec/cli.md).

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
	Partition    int            `json:"partition"`
	Lane         string         `json:"lane"`
	Delayed      int64          `json:"delayed"`
	Due          int64          `json:"due"`
	OldestDueMs  *int64         `json:"oldest_due_ms"`
	MaxOverdueMs int64          `json:"max_overdue_ms"`
	NextDueMs    *int64         `json:"next_due_ms"`
	ServerTimeMs int64          `json:"server_time_ms"`
	Unregistered bool           `json:"unregistered,omitempty"`
	Executions   []DueExecution `json:"executions,omitempty"`
}

// DueExecution is one due member of a delayed set.
type DueExecution struct {
	ExecutionID  string `json:"execution_id"`
	DelayUntilMs int64  `json:"delay_until_ms"`
	OverdueMs    int64  `json:"overdue_ms"`
}

// ListTotals covers every group scanned; Groups counts the groups shown.
type ListTotals struct {
	Delayed int64 `json:"delayed"`
	Due     int64 `json:"due"`
	Groups  int64 `json:"groups"`
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
	// WouldRepair is NeedsRepair in a dry run.
	WouldRepair Outcome = "would_repair"
	// Repaired: fixed by --repair.
	Repaired Outcome = "repaired"
)

// Result is the outcome for one execution.
type Result struct {
	Partition   int     `json:"partition"`
	Lane        string  `json:"lane"`
	ExecutionID string  `json:"execution_id"`
	Outcome     Outcome `json:"outcome"`
	// Reason says why a dry run would clean or fail, or why it was skipped.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

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
}

// Add counts one outcome.
func (t *PromoteTotals) Add(o Outcome) {
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
	DelayedScore  *float64          `json:"delayed_score"`
	InEligible    bool              `json:"in_eligible"`
	EligibleScore *float64          `json:"eligible_score"`
	Diagnosis     string            `json:"diagnosis"`
	// Stuck marks diagnoses the engine cannot resolve by itself.
	Stuck        bool  `json:"stuck"`
	ServerTimeMs int64 `json:"server_time_ms"`
}
