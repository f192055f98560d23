package metrics

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// StandbyMetrics are what `promote --watch --listen` serves on /metrics.
type StandbyMetrics struct {
	Registry     *prometheus.Registry
	perPartition bool
	// series are the backlog label values set by the last Backlog call.
	series map[string][]string

	promotions    *prometheus.CounterVec
	due           *prometheus.GaugeVec
	delayed       *prometheus.GaugeVec
	overdue       *prometheus.GaugeVec
	cycleDuration prometheus.Histogram
	lastSuccess   prometheus.Gauge
	serverUp      prometheus.Gauge
	stuck         prometheus.Gauge
	backoff       prometheus.Gauge
	outOfScope    *prometheus.GaugeVec
	outsideLanes  map[string]bool
	dueSoon       *prometheus.GaugeVec
	soonLanes     map[string]bool
	leader        prometheus.GaugeFunc
	transitions   prometheus.Counter
	// holds, when set, says at each scrape whether this replica holds its
	// lease now (nil: no lease, always the leader).
	holds atomic.Pointer[func() bool]
}

// NewStandbyMetrics registers the standby's metrics with Go and process
// collectors. perPartition adds a partition label to the backlog gauges
// (256 partitions x lanes can be many series, so it is opt-in). lease is
// the lease key the replica contends for ("" without --lease): the lease
// label of ffdelay_leader, so that alerts sum the replicas of each lease
// apart.
func NewStandbyMetrics(perPartition bool, lease string) *StandbyMetrics {
	labels := []string{"lane"}
	if perPartition {
		labels = []string{"partition", "lane"}
	}
	m := &StandbyMetrics{
		Registry:     prometheus.NewRegistry(),
		perPartition: perPartition,
		promotions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ffdelay_promotions_total",
			Help: "Executions handled by the watch loop, each counted once under its outcome (not_delayed_cleaned counts races lost to another promoter)."}, []string{"outcome"}),
		due: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_due",
			Help: "Delayed executions whose time has come, at the start of the last cycle."}, labels),
		delayed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_delayed",
			Help: "Executions in the delayed sets, at the start of the last cycle."}, labels),
		overdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_max_overdue_seconds",
			Help: "Overdue age of the oldest due execution (by its score), at the start of the last cycle."}, labels),
		cycleDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ffdelay_cycle_duration_seconds",
			Help: "How long each watch cycle took.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ffdelay_last_success_timestamp_seconds",
			Help: "When a cycle last reached the server and the library, in seconds since the epoch."}),
		serverUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ffdelay_server_up",
			Help: "1 when the readiness probe (every second) last reached the server and the library, else 0."}),
		stuck: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ffdelay_stuck_executions",
			Help: "Executions the last cycle found failing (needs_repair, Lua errors) or sitting out their backoff."}),
		transitions: prometheus.NewCounter(prometheus.CounterOpts{Name: "ffdelay_lease_transitions_total",
			Help: "Times this replica gained or lost the lease."}),
		backoff: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ffdelay_backoff_executions",
			Help: "Executions sitting out their failure backoff in the last cycle."}),
		dueSoon: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_due_soon",
			Help: "Delayed executions that fall due within the horizon (1m, 5m, 15m, 1h) from now, not counting those due already; counted every 15s."}, []string{"lane", "within"}),
		outOfScope: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_due_out_of_scope",
			Help: "Due executions in delayed sets of lanes outside this standby's scope (found by a bounded walk of the keyspace): nobody promotes them unless another replica's scope takes their lane."}, []string{"lane"}),
	}
	// Every outcome's series exists from the start, at 0, on every replica:
	// a rate() or an alert on a follower's series, or before the first
	// failure, sees 0, not "no data".
	for _, o := range model.WriteOutcomes {
		m.promotions.WithLabelValues(string(o))
	}
	// Read at each scrape from the lease itself, on both its clocks: a
	// replica just woken from a pause past its TTL reads 0 at once, not
	// after its lease goroutine ran.
	m.leader = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ffdelay_leader",
		Help:        "1 while this replica holds the lease (its key is the lease label) and promotes (always 1 without --lease, with no lease label), else 0.",
		ConstLabels: prometheus.Labels{"lease": lease}}, func() float64 {
		if f := m.holds.Load(); f != nil && !(*f)() {
			return 0
		}
		return 1
	})
	m.Registry.MustRegister(m.promotions, m.due, m.delayed, m.overdue, m.cycleDuration, m.lastSuccess, m.serverUp, m.stuck, m.backoff, m.leader, m.transitions,
		m.outOfScope, m.dueSoon,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Leadership makes ffdelay_leader follow holds (asked at each scrape).
func (m *StandbyMetrics) Leadership(holds func() bool) { m.holds.Store(&holds) }

// LeaseTransition counts one gain or loss of the lease.
func (m *StandbyMetrics) LeaseTransition() { m.transitions.Inc() }

// Backlog sets the backlog gauges from one reading of the groups. Every
// lane in scope (every partition and lane with perPartition) has its series,
// 0 when its set is empty or gone, so a drained lane reads 0 rather than "no
// data"; a series whose lane has left the scope is deleted, never frozen at
// its last value.
func (m *StandbyMetrics) Backlog(scope model.Scope, groups []model.Group) {
	type agg struct {
		labels       []string
		due, delayed int64
		overdue      int64
	}
	byKey := map[string]*agg{}
	var order []string
	add := func(partition int, lane string) *agg {
		lv := []string{lane}
		if m.perPartition {
			lv = []string{strconv.Itoa(partition), lane}
		}
		k := strings.Join(lv, "\x00")
		a := byKey[k]
		if a == nil {
			a = &agg{labels: lv}
			byKey[k] = a
			order = append(order, k)
		}
		return a
	}
	for _, pl := range scope.Groups(scope.AllPartitions()) {
		add(pl.Partition, pl.Lane)
	}
	for _, g := range groups {
		a := add(g.Partition, g.Lane)
		a.due += g.Due
		a.delayed += g.Delayed
		a.overdue = max(a.overdue, g.MaxOverdueMs)
	}
	for _, k := range order {
		a := byKey[k]
		m.due.WithLabelValues(a.labels...).Set(float64(a.due))
		m.delayed.WithLabelValues(a.labels...).Set(float64(a.delayed))
		m.overdue.WithLabelValues(a.labels...).Set(float64(a.overdue) / 1000)
	}
	for k, lv := range m.series {
		if byKey[k] == nil {
			m.due.DeleteLabelValues(lv...)
			m.delayed.DeleteLabelValues(lv...)
			m.overdue.DeleteLabelValues(lv...)
		}
	}
	m.series = make(map[string][]string, len(byKey))
	for k, a := range byKey {
		m.series[k] = a.labels
	}
}

// Cycle records one watch cycle: each execution's outcome, counted once
// under its own name (skipped_backoff is not counted: the executions
// sitting out are a gauge, see Stuck), the cycle's duration, and the time
// of the last cycle that reached the server.
func (m *StandbyMetrics) Cycle(outcomes map[model.Outcome]int64, took time.Duration, ok bool) {
	for o, n := range outcomes {
		if n > 0 && o != model.SkippedBackoff {
			m.promotions.WithLabelValues(string(o)).Add(float64(n))
		}
	}
	m.cycleDuration.Observe(took.Seconds())
	if ok {
		m.lastSuccess.Set(float64(time.Now().UnixMilli()) / 1000)
	}
}

// Stuck sets the executions failing cycle after cycle as the last cycle
// saw them, and how many of them sit out their backoff.
func (m *StandbyMetrics) Stuck(stuck, sittingOut int) {
	m.stuck.Set(float64(stuck))
	m.backoff.Set(float64(sittingOut))
}

// OutOfScope sets the due count of each lane outside the scope that has
// delayed sets; a lane that no longer has any loses its series.
func (m *StandbyMetrics) OutOfScope(o model.OutOfScope) {
	now := map[string]bool{}
	for _, l := range o.Lanes {
		now[l.Lane] = true
		m.outOfScope.WithLabelValues(l.Lane).Set(float64(l.Due))
	}
	for l := range m.outsideLanes {
		if !now[l] {
			m.outOfScope.DeleteLabelValues(l)
		}
	}
	m.outsideLanes = now
}

// DueSoon sets what falls due within each horizon, per lane; a lane that
// left the scope loses its series.
func (m *StandbyMetrics) DueSoon(soon []model.DueSoon) {
	now := map[string]bool{}
	for _, s := range soon {
		now[s.Lane] = true
		m.dueSoon.WithLabelValues(s.Lane, within(s.Within)).Set(float64(s.Count))
	}
	for l := range m.soonLanes {
		if !now[l] {
			m.dueSoon.DeletePartialMatch(prometheus.Labels{"lane": l})
		}
	}
	m.soonLanes = now
}

// within is a horizon as the within label writes it: 1m, 5m, 15m, 1h.
func within(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/time.Minute)) + "m"
}

// ServerUp follows the readiness probe.
func (m *StandbyMetrics) ServerUp(up bool) {
	if up {
		m.serverUp.Set(1)
	} else {
		m.serverUp.Set(0)
	}
}
