package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// repoFile is a file of the repository, from this package's folder.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", rel)
}

// exported is what a real standby's /metrics holds: per metric (a
// histogram's series under its family's name), the values of each label.
type exported map[string]map[string]map[string]bool

func scrapeExported(t *testing.T, sb standbyProbe) exported {
	t.Helper()
	_, body := sb.get("/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	out := exported{}
	for name, f := range families {
		labels := map[string]map[string]bool{}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if labels[l.GetName()] == nil {
					labels[l.GetName()] = map[string]bool{}
				}
				labels[l.GetName()][l.GetValue()] = true
			}
			if m.Histogram != nil {
				labels["le"] = map[string]bool{}
			}
		}
		out[name] = labels
	}
	return out
}

// targetLabels are the labels Prometheus itself adds to every series.
var targetLabels = map[string]bool{"instance": true, "job": true}

var (
	metricName = regexp.MustCompile(`\bffdelay_[a-z0-9_]+`)
	selector   = regexp.MustCompile(`\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	plainAlts  = regexp.MustCompile(`^[a-z0-9_]+(\|[a-z0-9_]+)*$`)
)

// checkExpr reports what expr names that the standby does not export: a
// metric, a label on the metrics it names, or a literal label value.
func checkExpr(where, expr string, ex exported) []string {
	var problems []string
	var metrics []string
	for _, name := range metricName.FindAllString(expr, -1) {
		family := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base := strings.TrimSuffix(name, suffix); base != name && ex[base] != nil && ex[base]["le"] != nil {
				family = base
			}
		}
		if ex[family] == nil {
			problems = append(problems, fmt.Sprintf("%s: %s is not exported", where, name))
			continue
		}
		metrics = append(metrics, family)
	}
	hasLabel := func(label string) map[string]bool {
		values := map[string]bool{}
		found := false
		for _, m := range metrics {
			if vs, ok := ex[m][label]; ok {
				found = true
				for v := range vs {
					values[v] = true
				}
			}
		}
		if !found {
			return nil
		}
		return values
	}
	for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
		for _, m := range matcher.FindAllStringSubmatch(sel[1], -1) {
			label, op, value := m[1], m[2], m[3]
			if targetLabels[label] || label == "__name__" {
				continue
			}
			values := hasLabel(label)
			if values == nil {
				problems = append(problems, fmt.Sprintf("%s: label %s is not on %v", where, label, metrics))
				continue
			}
			if value == "" || (op != "=" && op != "=~") || !plainAlts.MatchString(value) {
				continue
			}
			for _, v := range strings.Split(value, "|") {
				if !values[v] {
					problems = append(problems, fmt.Sprintf("%s: %s=%q: no series has that value (it has %v)", where, label, v, keys(values)))
				}
			}
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, label := range strings.Split(g[1], ",") {
			label = strings.TrimSpace(label)
			if label == "" || targetLabels[label] {
				continue
			}
			if hasLabel(label) == nil {
				problems = append(problems, fmt.Sprintf("%s: grouping label %s is not on %v", where, label, metrics))
			}
		}
	}
	return problems
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rulesFile is a Prometheus rules file, as far as the test reads it.
type rulesFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// dashboardExprs are the PromQL expressions of a Grafana dashboard's
// panels, with Grafana's variables given values PromQL can parse, and the
// metric and label of its label_values() variables.
func dashboardExprs(t *testing.T, path string) (exprs map[string]string, variables [][2]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not JSON: %v", path, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("the dashboard has no title or uid")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if q, ok := v.Query.(map[string]any); ok {
			s, _ := q["query"].(string)
			if m := regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`).FindStringSubmatch(s); m != nil {
				variables = append(variables, [2]string{m[1], m[2]})
			}
		}
	}
	if vars["datasource"] != "datasource" || vars["lane"] != "query" {
		t.Errorf("the dashboard's variables are %v: want a data source variable and a lane variable", vars)
	}
	exprs = map[string]string{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the data source variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, tg := range p.Targets {
			e := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$lane", ".*").Replace(tg.Expr)
			exprs[fmt.Sprintf("dashboard panel %q query %d", p.Title, i)] = e
		}
	}
	return exprs, variables
}

// The alerting rules and the dashboard cannot drift from the code: every
// metric, label and label value they name is exported by a real standby
// (with a lease, one cycle done, an unregistered lane, a stuck execution,
// something falling due soon), every expression parses and the rules' own
// unit tests pass (promtool, in a subtest that says SKIP without it), every alert has its summary, description and
// a runbook that names a README section, and the Kubernetes example carries
// the same rules.
func TestMonitoringMatchesMetrics(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) {
		s, c := ffServer(t, server, 4, "default")
		seedNow(t, c, fftest.Exec{Partition: 0, Shape: fftest.Due}, fftest.Exec{Partition: 1, Shape: fftest.NoDelayUntil},
			fftest.Exec{Partition: 2, Shape: fftest.Future, OffsetMs: 120_000}, fftest.Exec{Partition: 3, Lane: "reports", Shape: fftest.Due})
		_, sb, _ := startStandby(t, bin, "--interval", "100ms", "--lease", "--url", "redis://"+s.Addr)
		// Two cycles done: the first has counted everything a cycle counts
		// (the lanes outside the scope on a small keyspace, what falls due
		// soon, the stuck one) by the end of the second.
		within(t, 20*time.Second, "two cycles done (ffdelay_cycle_duration_seconds)", func() bool {
			return sb.metric("ffdelay_cycle_duration_seconds", nil) >= 2
		})
		ex := scrapeExported(t, sb)

		var rules rulesFile
		rulesPath := repoFile(t, "deploy/prometheus/ffdelay-rules.yaml")
		raw, err := os.ReadFile(rulesPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &rules); err != nil {
			t.Fatalf("%s: %v", rulesPath, err)
		}
		readme, err := os.ReadFile(repoFile(t, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		alerts := 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				alerts++
				problems = append(problems, checkExpr("alert "+r.Alert, r.Expr, ex)...)
				for _, a := range []string{"summary", "description", "runbook"} {
					if r.Annotations[a] == "" {
						problems = append(problems, fmt.Sprintf("alert %s has no %s annotation", r.Alert, a))
					}
				}
				_, anchor, _ := strings.Cut(r.Annotations["runbook"], "README.md#")
				if anchor == "" || !readmeHasAnchor(string(readme), anchor) {
					problems = append(problems, fmt.Sprintf("alert %s: its runbook %q names no README section", r.Alert, r.Annotations["runbook"]))
				}
			}
		}
		if alerts < 9 {
			t.Errorf("%d alerts in %s", alerts, rulesPath)
		}
		exprs, variables := dashboardExprs(t, repoFile(t, "deploy/grafana/ffdelay-dashboard.json"))
		for where, e := range exprs {
			problems = append(problems, checkExpr(where, e, ex)...)
		}
		for _, v := range variables {
			if ex[v[0]] == nil || ex[v[0]][v[1]] == nil {
				problems = append(problems, fmt.Sprintf("dashboard variable: label_values(%s, %s) names what is not exported", v[0], v[1]))
			}
		}
		sort.Strings(problems)
		for _, p := range problems {
			t.Error(p)
		}

		// Every expression parses: the rules as they are, the dashboard's
		// as recording rules of a file of their own.
		t.Run("promtool", func(t *testing.T) { checkWithPromtool(t, rulesPath, exprs) })

		// The Kubernetes example's PrometheusRule holds the same rules.
		k8s, err := os.ReadFile(repoFile(t, "deploy/kubernetes/ffdelay.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var fromFile, inK8s any
		if err := yaml.Unmarshal(raw, &fromFile); err != nil {
			t.Fatal(err)
		}
		found := false
		dec := yaml.NewDecoder(strings.NewReader(string(k8s)))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				break
			}
			if doc["kind"] == "PrometheusRule" {
				found = true
				spec, _ := doc["spec"].(map[string]any)
				inK8s = map[string]any{"groups": spec["groups"]}
			}
		}
		if !found {
			t.Error("deploy/kubernetes/ffdelay.yaml has no PrometheusRule")
		} else if !reflect.DeepEqual(fromFile, inK8s) {
			t.Error("the PrometheusRule in deploy/kubernetes/ffdelay.yaml differs from deploy/prometheus/ffdelay-rules.yaml")
		}
	})
}

// checkWithPromtool parses the rules and the dashboard's expressions with
// promtool and runs the rules' unit tests. Without promtool it says SKIP
// (a failure under .ci/run); the checks above run all the same.
func checkWithPromtool(t *testing.T, rulesPath string, exprs map[string]string) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		fftest.Skip(t, "promtool is not on this machine (make deps installs it from Debian's prometheus package): the expressions are not parsed and the rules' unit tests do not run")
	}
	var rec strings.Builder
	rec.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, e := range exprs {
		n++
		q, _ := json.Marshal(e)
		fmt.Fprintf(&rec, "      - record: dashboard:query%d\n        expr: %s\n", n, q)
	}
	recPath := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(recPath, []byte(rec.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", rulesPath}, {"check", "rules", recPath},
		{"test", "rules", repoFile(t, "deploy/prometheus/ffdelay-rules.test.yaml")}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// readmeHasAnchor reports a README heading whose GitHub anchor is anchor.
func readmeHasAnchor(readme, anchor string) bool {
	for _, l := range strings.Split(readme, "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		if b.String() == anchor {
			return true
		}
	}
	return false
}
