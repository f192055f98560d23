// Package metrics is ffdelay's Prometheus side: the registry a standby
// serves on /metrics (StandbyMetrics) and the node_exporter textfile a
// one-shot run writes (WriteMetrics). output renders what a person reads;
// this package owns the series and the file.
package metrics

import (
	"fmt"
	"strconv"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
	"github.com/prometheus/client_golang/prometheus"
)

// MetricsRun is what one run contributes to the Prometheus textfile.
type MetricsRun struct {
	Command string
	Started time.Time
	Groups  []model.Group
	Totals  *model.PromoteTotals
	Checks  []output.Check
	Audit   *model.AuditTotals
}

// WriteMetrics writes the run's figures for node_exporter's textfile
// collector. prometheus.WriteToTextfile writes a temporary file and renames
// it, so the collector never reads half a file.
func WriteMetrics(path string, m MetricsRun) error {
	reg := prometheus.NewRegistry()
	cmd := prometheus.Labels{"command": m.Command}
	if m.Groups != nil {
		delayed := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_delayed", Help: "Executions in the delayed set, per partition and lane."}, []string{"partition", "lane"})
		due := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_due", Help: "Delayed executions whose time has come, per partition and lane."}, []string{"partition", "lane"})
		overdue := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_max_overdue_seconds", Help: "Overdue age of the oldest due execution, per partition and lane."}, []string{"partition", "lane"})
		reg.MustRegister(delayed, due, overdue)
		for _, g := range m.Groups {
			l := prometheus.Labels{"partition": strconv.Itoa(g.Partition), "lane": g.Lane}
			delayed.With(l).Set(float64(g.Delayed))
			due.With(l).Set(float64(g.Due))
			overdue.With(l).Set(float64(g.MaxOverdueMs) / 1000)
		}
	}
	if m.Audit != nil {
		found := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_audit_executions", Help: "Executions the last audit found out of step with their scheduling sets, by problem."}, []string{"problem"})
		repaired := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ffdelay_audit_repaired", Help: "Executions the last audit repaired."})
		reg.MustRegister(found, repaired)
		found.WithLabelValues(string(model.Stranded)).Set(float64(m.Audit.Stranded))
		found.WithLabelValues(string(model.LostDelayed)).Set(float64(m.Audit.LostDelayed))
		found.WithLabelValues(string(model.Duplicated)).Set(float64(m.Audit.Duplicated))
		repaired.Set(float64(m.Audit.Repaired))
	}
	if m.Totals != nil {
		outcomes := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_promotions", Help: "Executions handled by the last promote run, by outcome."}, []string{"outcome"})
		reg.MustRegister(outcomes)
		for _, c := range m.Totals.Counts() {
			outcomes.WithLabelValues(c.Name).Set(float64(c.Value))
		}
	}
	if m.Checks != nil {
		status := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_check_status", Help: "1 for the status each check has (pass, warn, fail), 0 for the others."}, []string{"check", "status"})
		reg.MustRegister(status)
		for _, c := range m.Checks {
			for _, s := range []output.Status{output.Pass, output.Warn, output.Fail} {
				v := 0.0
				if c.Status == s {
					v = 1
				}
				status.WithLabelValues(c.Name, string(s)).Set(v)
			}
		}
	}
	last := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_last_run_timestamp_seconds", Help: "When the last run finished, in seconds since the epoch."}, []string{"command"})
	dur := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ffdelay_last_run_duration_seconds", Help: "How long the last run took."}, []string{"command"})
	reg.MustRegister(last, dur)
	last.With(cmd).Set(float64(time.Now().UnixMilli()) / 1000)
	dur.With(cmd).Set(time.Since(m.Started).Seconds())
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("--metrics-file: cannot write %s: %v", path, err)
	}
	return nil
}
