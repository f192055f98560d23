package fftest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// signature is one library function's KEYS and ARGV by position, read from
// the library's own source (the names its Lua gives keys[i] and args[i]).
type signature struct{ keys, args []string }

var (
	keysRE    = regexp.MustCompile(`^\s*(\w+)\s*=.*\bkeys\[(\d+)\]`)
	argsRE    = regexp.MustCompile(`^\s*(\w+)\s*=.*\bargs\[(\d+)\]`)
	reqNumRE  = regexp.MustCompile(`require_number\(args\[(\d+)\],\s*"(\w+)"\)`)
	functionR = regexp.MustCompile(`register_function\('(\w+)'`)
)

// parseSignatures reads every function's KEYS and ARGV layout from a
// library file. FlowFabric's functions name their inputs in a K table
// (`core_key = keys[1]`) and an A table (`execution_id = args[1]`, or
// `require_number(args[5], "priority")`); the positions change between
// releases, the names do not.
func parseSignatures(src string) map[string]signature {
	out := map[string]signature{}
	var name string
	var sig signature
	set := func(list *[]string, pos int, n string) {
		for len(*list) < pos {
			*list = append(*list, "")
		}
		if (*list)[pos-1] == "" {
			(*list)[pos-1] = n
		}
	}
	flush := func() {
		if name != "" {
			out[name] = sig
		}
	}
	for _, line := range strings.Split(src, "\n") {
		if m := functionR.FindStringSubmatch(line); m != nil {
			flush()
			name, sig = m[1], signature{}
			continue
		}
		if name == "" || strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		if m := keysRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[2])
			set(&sig.keys, n, m[1])
		}
		if m := argsRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[2])
			set(&sig.args, n, m[1])
		}
		if m := reqNumRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			set(&sig.args, n, m[2])
		}
	}
	flush()
	return out
}

// Functions creates FlowFabric states through a real library's own
// functions, with the KEYS and ARGV that FlowFabric's Rust callers pass
// (ff-script's ff_function! wrappers, keys from ff-core's keys.rs).
type Functions struct {
	lib  Library
	sigs map[string]signature
	c    redis.Cmdable
}

// NewFunctions reads lib's signatures; c must have lib loaded.
func NewFunctions(lib Library, c redis.Cmdable) (*Functions, error) {
	b, err := os.ReadFile(lib.Path)
	if err != nil {
		return nil, err
	}
	return &Functions{lib: lib, sigs: parseSignatures(string(b)), c: c}, nil
}

// RealExec is one execution created through the real functions.
type RealExec struct {
	ID        string
	Partition int
	Lane      string
	Priority  int
	// lease of the current claim
	leaseID, attemptID, epoch, attemptIndex string
}

// NewRealExec mints an id on partition p.
func NewRealExec(p int, lane string, priority int) *RealExec {
	return &RealExec{ID: fmt.Sprintf("{fp:%d}:%s", p, newUUID()), Partition: p, Lane: lane, Priority: priority}
}

func (e *RealExec) tag() string { return fmt.Sprintf("{fp:%d}", e.Partition) }

const (
	workerID         = "ffdelay-test-worker"
	workerInstanceID = "ffdelay-test-worker-1"
	waitpointPrefix  = "wp-"
)

// keyFor builds the key a function names `name` for e, as ff-core's
// keys.rs spells it.
func (e *RealExec) keyFor(name string, scheduling string) (string, bool) {
	t, id := e.tag(), e.ID
	exec := "ff:exec:" + t + ":" + id
	idx := "ff:idx:" + t
	lane := idx + ":lane:" + e.Lane
	attempt := "ff:attempt:" + t + ":" + id + ":" + e.attemptIndexOr0()
	wp := "ff:wp:" + t + ":" + waitpointPrefix + id[len(t)+1:]
	switch name {
	case "core_key":
		return exec + ":core", true
	case "payload_key":
		return exec + ":payload", true
	case "policy_key":
		return exec + ":policy", true
	case "tags_key":
		return exec + ":tags", true
	case "scheduling_zset":
		return scheduling, true
	case "idem_key", "dedup_hash":
		return "ff:noop:" + t, true
	case "deadline_zset", "execution_deadline_key", "execution_deadline_zset":
		return idx + ":execution_deadline", true
	case "all_executions_set":
		return idx + ":all_executions", true
	case "claim_grant", "claim_grant_key":
		return exec + ":claim_grant", true
	case "eligible_zset":
		return lane + ":eligible", true
	case "delayed_zset":
		return lane + ":delayed", true
	case "suspended_zset":
		return lane + ":suspended", true
	case "active_index_key":
		return lane + ":active", true
	case "terminal_key":
		return lane + ":terminal", true
	case "lease_expiry_key":
		return idx + ":lease_expiry", true
	case "worker_leases_key":
		return idx + ":worker:" + workerInstanceID + ":leases", true
	case "attempt_hash", "attempt_record":
		return attempt, true
	case "attempt_usage":
		return attempt + ":usage", true
	case "attempt_policy":
		return attempt + ":policy", true
	case "attempts_zset":
		return exec + ":attempts", true
	case "lease_current_key":
		return exec + ":lease:current", true
	case "lease_history_key":
		return exec + ":lease:history", true
	case "attempt_timeout_key":
		return idx + ":attempt_timeout", true
	case "stream_meta":
		return "ff:stream:" + t + ":" + id + ":" + e.attemptIndexOr0() + ":meta", true
	case "suspension_current":
		return exec + ":suspension:current", true
	case "waitpoint_hash":
		return wp, true
	case "waitpoint_signals":
		return wp + ":signals", true
	case "wp_condition":
		return wp + ":condition", true
	case "waitpoint_history":
		return exec + ":waitpoints", true
	case "suspension_timeout_key":
		return idx + ":suspension_timeout", true
	case "pending_wp_expiry_key":
		return idx + ":pending_waitpoint_expiry", true
	case "hmac_secrets":
		return "ff:sec:" + t + ":waitpoint_hmac", true
	}
	return "", false
}

func (e *RealExec) attemptIndexOr0() string {
	if e.attemptIndex == "" {
		return "0"
	}
	return e.attemptIndex
}

// call runs fn with KEYS and ARGV laid out by the library's own signature.
// A name the harness does not know is an error, so a release that adds an
// input fails loudly instead of receiving an empty string.
func (f *Functions) call(ctx context.Context, fn string, e *RealExec, scheduling string, args map[string]string) ([]any, error) {
	sig, ok := f.sigs[fn]
	if !ok {
		return nil, fmt.Errorf("%s: library %s has no %s", f.lib.Name, f.lib.Name, fn)
	}
	keys := make([]string, len(sig.keys))
	for i, n := range sig.keys {
		k, ok := e.keyFor(n, scheduling)
		if !ok {
			return nil, fmt.Errorf("%s %s: KEYS[%d] %q is unknown to the test harness", f.lib.Name, fn, i+1, n)
		}
		keys[i] = k
	}
	argv := make([]any, len(sig.args))
	for i, n := range sig.args {
		v, ok := args[n]
		if !ok && n != "" {
			return nil, fmt.Errorf("%s %s: ARGV[%d] %q is unknown to the test harness", f.lib.Name, fn, i+1, n)
		}
		argv[i] = v
	}
	v, err := f.c.FCall(ctx, fn, keys, argv...).Result()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", f.lib.Name, fn, err)
	}
	arr, _ := v.([]any)
	if len(arr) < 2 || arr[0] != int64(1) {
		return arr, fmt.Errorf("%s %s(%s): %v", f.lib.Name, fn, e.ID, v)
	}
	return arr, nil
}

// Create runs ff_create_execution. delayUntil is "" or a ms timestamp; as
// FlowFabric's Rust caller does, any delay_until sends the lane's delayed
// set as the scheduling key, even one already past.
func (f *Functions) Create(ctx context.Context, e *RealExec, delayUntil string) error {
	sched, _ := e.keyFor("eligible_zset", "")
	if delayUntil != "" {
		sched, _ = e.keyFor("delayed_zset", "")
	}
	_, err := f.call(ctx, "ff_create_execution", e, sched, map[string]string{
		"execution_id": e.ID, "namespace": "ffdelay-test", "lane_id": e.Lane, "execution_kind": "test",
		"priority": strconv.Itoa(e.Priority), "creator_identity": "ffdelay-tests", "policy_json": "{}",
		"input_payload": "", "delay_until": delayUntil, "dedup_ttl_ms": "", "tags_json": "{}",
		"execution_deadline_at": "", "partition_id": strconv.Itoa(e.Partition),
	})
	return err
}

// grant issues a claim grant for e (ff_issue_claim_grant), as the
// scheduler does before a worker claims; it returns the worker's identity
// arguments, shared by the claim functions.
func (f *Functions) grant(ctx context.Context, e *RealExec) (map[string]string, error) {
	common := map[string]string{
		"execution_id": e.ID, "worker_id": workerID, "worker_instance_id": workerInstanceID,
		"lane_id": e.Lane, "lane": e.Lane, "capability_hash": "", "capability_snapshot_hash": "",
	}
	grant := with(common, map[string]string{"grant_ttl_ms": "30000", "route_snapshot_json": "", "admission_summary": "", "worker_capabilities_csv": ""})
	_, err := f.call(ctx, "ff_issue_claim_grant", e, "", grant)
	return common, err
}

// Claim issues a claim grant and claims e, as a worker does.
func (f *Functions) Claim(ctx context.Context, e *RealExec) error {
	common, err := f.grant(ctx, e)
	if err != nil {
		return err
	}
	e.leaseID, e.attemptID = newUUID(), newUUID()
	claim := with(common, map[string]string{"lease_id": e.leaseID, "lease_ttl_ms": "30000", "renew_before_ms": "10000",
		"attempt_id": e.attemptID, "attempt_policy_json": "", "attempt_timeout_ms": "", "execution_deadline_at": ""})
	if _, err := f.call(ctx, "ff_claim_execution", e, "", claim); err != nil {
		return err
	}
	core, err := f.c.HMGet(ctx, mustKey(e, "core_key"), "current_lease_epoch", "current_attempt_index").Result()
	if err != nil {
		return err
	}
	e.epoch, _ = core[0].(string)
	e.attemptIndex, _ = core[1].(string)
	return nil
}

// ClaimResumed claims an execution whose attempt was interrupted by a
// suspension (ff_claim_resumed_execution, after a claim grant), as a worker
// picks up a resumed execution.
func (f *Functions) ClaimResumed(ctx context.Context, e *RealExec) error {
	common, err := f.grant(ctx, e)
	if err != nil {
		return err
	}
	e.leaseID = newUUID()
	_, err = f.call(ctx, "ff_claim_resumed_execution", e, "", with(common, map[string]string{
		"lease_id": e.leaseID, "lease_ttl_ms": "30000", "renew_before_ms": "10000", "remaining_attempt_timeout_ms": ""}))
	return err
}

func (e *RealExec) fence() map[string]string {
	return map[string]string{"execution_id": e.ID, "lease_id": e.leaseID, "lease_epoch": e.epoch,
		"attempt_id": e.attemptID, "attempt_index": e.attemptIndex, "source": ""}
}

// Delay is a worker delaying its claimed execution (ff_delay_execution).
func (f *Functions) Delay(ctx context.Context, e *RealExec, delayUntil int64) error {
	_, err := f.call(ctx, "ff_delay_execution", e, "", with(e.fence(), map[string]string{"delay_until": strconv.FormatInt(delayUntil, 10)}))
	return err
}

// Fail fails the claimed attempt with a retry policy (ff_fail_execution);
// with retries left the execution waits in the delayed set.
func (f *Functions) Fail(ctx context.Context, e *RealExec, retryPolicyJSON string) error {
	_, err := f.call(ctx, "ff_fail_execution", e, "", with(e.fence(), map[string]string{
		"failure_reason": "test failure", "failure_category": "transient", "retry_policy_json": retryPolicyJSON}))
	return err
}

// SuspendAndResume suspends the claimed execution on a waitpoint, then
// resumes it with a resume delay (ff_resume_execution's resume_delay_ms).
func (f *Functions) SuspendAndResume(ctx context.Context, e *RealExec, resumeDelayMs int64) error {
	secrets := mustKey(e, "hmac_secrets")
	if err := f.c.HSet(ctx, secrets, "current_kid", "k1", "secret:k1", hex.EncodeToString([]byte("ffdelay-test-secret-0123456789ab"))).Err(); err != nil {
		return err
	}
	wpKey, _ := e.keyFor("waitpoint_hash", "")
	_, err := f.call(ctx, "ff_suspend_execution", e, "", with(e.fence(), map[string]string{
		"suspension_id": newUUID(), "waitpoint_id": waitpointPrefix + e.ID[len(e.tag())+1:], "waitpoint_key": wpKey,
		"reason_code": "waiting_for_signal", "requested_by": "worker", "timeout_at": "",
		"resume_condition_json": `{"condition_type":"signal_set","required_signal_names":["go"],"signal_match_mode":"any","minimum_signal_count":1}`,
		"resume_policy_json":    "{}", "continuation_metadata_ptr": "", "use_pending_waitpoint": "",
		"timeout_behavior": "fail", "lease_history_maxlen": "1000", "idempotency_key": "", "dedup_ttl_ms": "", "num_extra_waitpoints": "0",
	}))
	if err != nil {
		return err
	}
	_, err = f.call(ctx, "ff_resume_execution", e, "", map[string]string{
		"execution_id": e.ID, "trigger_type": "operator", "resume_delay_ms": strconv.FormatInt(resumeDelayMs, 10)})
	return err
}

// Promote runs ff_promote_delayed on e with the server's clock, as the
// engine's promoter would.
func (f *Functions) Promote(ctx context.Context, e *RealExec) (string, error) {
	now, err := ServerNowMs(ctx, f.c)
	if err != nil {
		return "", err
	}
	v, err := f.c.FCall(ctx, "ff_promote_delayed", []string{mustKey(e, "core_key"), mustKey(e, "delayed_zset"), mustKey(e, "eligible_zset")},
		e.ID, strconv.FormatInt(now, 10)).Result()
	if err != nil {
		return "", err
	}
	arr, _ := v.([]any)
	if len(arr) < 3 {
		return "", fmt.Errorf("ff_promote_delayed: %v", v)
	}
	return fmt.Sprint(arr[2]), nil
}

// Retry fails e's claimed attempt twice under an exponential policy
// (initial 7 ms, multiplier 1.5), promoting and claiming it again in
// between, so its second backoff is 10.5 ms: the fractional delay_until
// and score that FlowFabric's retries produce.
func (f *Functions) Retry(ctx context.Context, e *RealExec) error {
	policy := `{"max_retries":5,"backoff":{"type":"exponential","initial_delay_ms":7,"max_delay_ms":60000,"multiplier":1.5}}`
	if err := f.Fail(ctx, e, policy); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := f.Promote(ctx, e)
		if err != nil {
			return err
		}
		if out == "promoted" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("retry of %s never became due: %s", e.ID, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := f.Claim(ctx, e); err != nil {
		return err
	}
	return f.Fail(ctx, e, policy)
}

func mustKey(e *RealExec, name string) string {
	k, ok := e.keyFor(name, "")
	if !ok {
		panic("fftest: no key " + name)
	}
	return k
}

func with(base, more map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(more))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
