package fftest

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"testing"

	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// Shape is a kind of delayed execution, healthy or stuck.
type Shape string

// Shapes the tests seed.
const (
	// Due: a plain delay whose time has come.
	Due Shape = "due"
	// Future: delayed until later.
	Future Shape = "future"
	// Retry: a retry backoff with a fractional delay_until, due.
	Retry Shape = "retry"
	// NoDelayUntil: resumed with a delay but delay_until left empty; the
	// function fails on it forever.
	NoDelayUntil Shape = "nodelay"
	// PastEligible: created with a past delay_until: eligible_now but
	// sitting in the delayed set with an eligible-style score.
	PastEligible Shape = "pasteligible"
	// Duplicate: eligible_now and in the eligible set, with a stale entry
	// left in the delayed set; the function cleans the stale entry.
	Duplicate Shape = "duplicate"
	// NoCore: a stale member whose core is gone.
	NoCore Shape = "nocore"
	// NotRunnable: a terminal core still in the delayed set.
	NotRunnable Shape = "nonrunnable"
	// StaleScore: score says due, delay_until says later (not_yet_due).
	StaleScore Shape = "stale"
	// Malformed: a member that is not an execution id.
	Malformed Shape = "malformed"
	// WrongTag: an id tagged for another partition.
	WrongTag Shape = "wrongtag"
)

// Exec is one seeded execution.
type Exec struct {
	Partition int
	Lane      string
	Shape     Shape
	ID        string // generated when empty
	Namespace string
	Priority  int
	// Offset is how far from now the delay falls, in ms (negative: past).
	// Zero picks a default for the shape.
	OffsetMs  int64
	CreatedAt int64
	Tags      map[string]string
}

// Many is n copies of e (each gets its own id when seeded).
func Many(n int, e Exec) []Exec {
	out := make([]Exec, n)
	for i := range out {
		out[i] = e
	}
	return out
}

// NewID mints an id as FlowFabric does: "{fp:N}:" + a random v4 uuid.
func NewID(partition int) string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("{fp:%d}:%x-%x-%x-%x-%x", partition, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ServerNowMs reads the server clock.
func ServerNowMs(ctx context.Context, c redis.Cmdable) (int64, error) {
	t, err := c.Time(ctx).Result()
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}

// SeedNow seeds execs relative to the server's clock (see Seed) and
// fails t on any error.
func SeedNow(t testing.TB, c redis.Cmdable, execs []Exec) []string {
	t.Helper()
	ctx := context.Background()
	now, err := ServerNowMs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := Seed(ctx, c, now, execs)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// Seed writes executions exactly as FlowFabric does: the core hash, the
// tags hash, the all_executions set and the delayed set entry. It returns
// the ids (members) written, in order.
func Seed(ctx context.Context, c redis.Cmdable, nowMs int64, execs []Exec) ([]string, error) {
	ids := make([]string, len(execs))
	const chunk = 2000
	for start := 0; start < len(execs); start += chunk {
		end := min(start+chunk, len(execs))
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < end; i++ {
				ids[i] = seedOne(ctx, p, nowMs, &execs[i])
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func seedOne(ctx context.Context, p redis.Pipeliner, now int64, e *Exec) string {
	if e.Lane == "" {
		e.Lane = "default"
	}
	if e.Namespace == "" {
		e.Namespace = "default"
	}
	id := e.ID
	if id == "" {
		switch e.Shape {
		case Malformed:
			id = "not-an-execution-id-" + strconv.FormatInt(now, 36) + fmt.Sprint(len(e.Lane))
			b := make([]byte, 4)
			rand.Read(b)
			id += fmt.Sprintf("-%x", b)
		case WrongTag:
			id = NewID(e.Partition + 1)
		default:
			id = NewID(e.Partition)
		}
		e.ID = id
	}
	offset := e.OffsetMs
	if offset == 0 {
		switch e.Shape {
		case Future:
			offset = 3_600_000
		default:
			offset = -5_000
		}
	}
	created := e.CreatedAt
	if created == 0 {
		created = now - 60_000
	}
	delayedKey := redisops.DelayedKey(e.Partition, e.Lane)
	if e.Shape == Malformed || e.Shape == WrongTag {
		p.ZAdd(ctx, delayedKey, redis.Z{Score: float64(now + offset), Member: id})
		return id
	}
	due := now + offset
	delayUntil := strconv.FormatInt(due, 10)
	score := float64(due)
	core := map[string]any{
		"execution_id": id, "namespace": e.Namespace, "lane_id": e.Lane, "current_lane": e.Lane,
		"execution_kind": "solo", "partition_id": strconv.Itoa(e.Partition), "priority": strconv.Itoa(e.Priority),
		"created_at": strconv.FormatInt(created, 10), "last_transition_at": strconv.FormatInt(created, 10),
		"last_mutation_at": strconv.FormatInt(created, 10), "creator_identity": "fftest", "flow_id": "",
		"lifecycle_phase": "runnable", "ownership_state": "unowned", "eligibility_state": "not_eligible_until_time",
		"public_state": "delayed", "terminal_outcome": "none", "blocking_reason": "waiting_for_delay",
		"blocking_detail": "delayed until " + delayUntil, "delay_until": delayUntil, "attempt_state": "pending_first_attempt",
		"current_attempt_id": "", "lease_id": "", "lease_owner": "", "lease_expires_at": "",
	}
	switch e.Shape {
	case Retry:
		du := float64(due) + 0.375
		delayUntil = strconv.FormatFloat(du, 'f', -1, 64)
		score = du
		core["delay_until"], core["blocking_reason"], core["attempt_state"] = delayUntil, "waiting_for_retry_backoff", "pending_retry_attempt"
		core["blocking_detail"] = "delayed until " + delayUntil
	case NoDelayUntil:
		core["delay_until"], core["blocking_reason"], core["attempt_state"] = "", "waiting_for_resume_delay", "attempt_interrupted"
	case PastEligible, Duplicate:
		core["eligibility_state"], core["public_state"], core["blocking_reason"] = "eligible_now", "waiting", "waiting_for_worker"
		core["delay_until"], core["blocking_detail"] = "", ""
		score = float64(-int64(e.Priority)*1_000_000_000_000 + created)
	case NotRunnable:
		core["lifecycle_phase"], core["public_state"], core["terminal_outcome"] = "terminal", "completed", "success"
		core["eligibility_state"], core["blocking_reason"] = "not_applicable", "none"
	case StaleScore:
		later := now + 3_600_000
		core["delay_until"] = strconv.FormatInt(later, 10)
		core["blocking_detail"] = "delayed until " + strconv.FormatInt(later, 10)
	}
	if e.Shape != NoCore {
		p.HSet(ctx, redisops.CoreKey(e.Partition, id), core)
		if len(e.Tags) > 0 {
			p.HSet(ctx, redisops.TagsKey(e.Partition, id), e.Tags)
		}
		p.SAdd(ctx, redisops.AllExecutionsKey(e.Partition), id)
	}
	p.ZAdd(ctx, delayedKey, redis.Z{Score: score, Member: id})
	if e.Shape == Duplicate {
		p.ZAdd(ctx, redisops.EligibleKey(e.Partition, e.Lane), redis.Z{Score: score, Member: id})
	}
	return id
}

// SetPartitions writes ff:config:partitions as ff-server does.
func SetPartitions(ctx context.Context, c redis.Cmdable, n int) error {
	return c.HSet(ctx, redisops.ConfigKey, "num_flow_partitions", strconv.Itoa(n), "num_budget_partitions", "32", "num_quota_partitions", "32").Err()
}

// RegisterLanes writes ff:idx:lanes as ff-server (>= 0.6) does at boot.
func RegisterLanes(ctx context.Context, c redis.Cmdable, lanes ...string) error {
	args := make([]any, len(lanes))
	for i, l := range lanes {
		args[i] = l
	}
	return c.SAdd(ctx, redisops.LanesKey, args...).Err()
}
