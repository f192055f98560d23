package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os/exec"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/redis/go-redis/v9"
)

// forecastDoc is forecast's JSON document.
type forecastDoc struct {
	ServerTimeMs int64 `json:"server_time_ms"`
	WindowMs     int64 `json:"window_ms"`
	StepMs       int64 `json:"step_ms"`
	DueNow       int64 `json:"due_now"`
	Steps        []struct {
		FromMs int64            `json:"from_ms"`
		ToMs   int64            `json:"to_ms"`
		Total  int64            `json:"total"`
		Lanes  map[string]int64 `json:"lanes"`
	} `json:"steps"`
	Beyond      int64            `json:"beyond"`
	BeyondLanes map[string]int64 `json:"beyond_lanes"`
	DueNowLanes map[string]int64 `json:"due_now_lanes"`
	Lanes       []string         `json:"lanes"`
}

// seededScores seeds the forecast's data and returns every score by lane:
// a wave of n in one minute 20 minutes ahead, a trickle (every 7 minutes,
// over 2 hours) in two lanes, and some overdue. No score is within 30 s of
// now or of a whole minute, so neither the seconds between the seeding and
// the reading nor a step's edge can move one.
func seededScores(t *testing.T, c redis.Cmdable, now int64, partitions, wave int) map[string][]int64 {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewSource(now))
	var execs []fftest.Exec
	scores := map[string][]int64{}
	add := func(lane string, score int64) {
		execs = append(execs, fftest.Exec{Partition: len(execs) % partitions, Lane: lane, Shape: fftest.Future, OffsetMs: score - now})
		scores[lane] = append(scores[lane], score)
	}
	minute := int64(60_000)
	waveAt := (now/minute + 20) * minute
	for i := 0; i < wave; i++ {
		add("default", waveAt+5_000+rng.Int63n(50_000))
	}
	for k := int64(1); k <= 17; k++ {
		at := (now/minute+7*k)*minute + 30_000
		add("default", at)
		add("payments", at+1_000)
	}
	for i := 0; i < 25; i++ {
		execs = append(execs, fftest.Exec{Partition: i % partitions, Lane: "payments", Shape: fftest.Due, OffsetMs: -int64(60_000 + i*1_000)})
		scores["payments"] = append(scores["payments"], now-int64(60_000+i*1_000))
	}
	if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
		t.Fatal(err)
	}
	return scores
}

// forecast runs ffdelay forecast -o json with args.
func forecast(t *testing.T, bin string, args ...string) forecastDoc {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"forecast", "-o", "json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("forecast: %v", err)
	}
	var doc forecastDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("forecast's JSON: %v\n%s", err, out)
	}
	return doc
}

// checkForecast holds every figure of doc to the seeded scores: each step's
// count per lane and in total, what is due now and what falls due later.
func checkForecast(t *testing.T, doc forecastDoc, scores map[string][]int64) {
	t.Helper()
	if doc.WindowMs != 3_600_000 || doc.StepMs != 300_000 || len(doc.Steps) < 12 || len(doc.Steps) > 13 {
		t.Fatalf("window %d, step %d, %d steps: want 1h in steps of 5m (12, 13 when the first is not whole)", doc.WindowMs, doc.StepMs, len(doc.Steps))
	}
	now := doc.ServerTimeMs
	for lane, list := range scores {
		var due, beyond int64
		perStep := make([]int64, len(doc.Steps))
		for _, s := range list {
			switch {
			case s <= now:
				due++
			case s > doc.Steps[len(doc.Steps)-1].ToMs:
				beyond++
			default:
				for i, st := range doc.Steps {
					if s > st.FromMs && s <= st.ToMs {
						perStep[i]++
					}
				}
			}
		}
		if doc.DueNowLanes[lane] != due || doc.BeyondLanes[lane] != beyond {
			t.Errorf("lane %s: due now %d, later %d; seeded %d and %d", lane, doc.DueNowLanes[lane], doc.BeyondLanes[lane], due, beyond)
		}
		for i, st := range doc.Steps {
			if st.Lanes[lane] != perStep[i] {
				t.Errorf("lane %s, step %d (%s-%s): %d, seeded %d", lane, i, time.UnixMilli(st.FromMs).UTC().Format("15:04:05"),
					time.UnixMilli(st.ToMs).UTC().Format("15:04:05"), st.Lanes[lane], perStep[i])
			}
		}
	}
	for i, st := range doc.Steps {
		var sum int64
		for _, n := range st.Lanes {
			sum += n
		}
		if sum != st.Total {
			t.Errorf("step %d: total %d, lanes add up to %d", i, st.Total, sum)
		}
		if i > 0 && st.FromMs != doc.Steps[i-1].ToMs {
			t.Errorf("step %d starts at %d, the one before ends at %d", i, st.FromMs, doc.Steps[i-1].ToMs)
		}
		if i < len(doc.Steps)-1 && st.ToMs%doc.StepMs != 0 {
			t.Errorf("step %d ends at %d, not on a whole step", i, st.ToMs)
		}
	}
}

// forecast on a real server with executions seeded at known due times: a
// wave of 50,000 in one minute, a trickle elsewhere, some overdue; every
// count exact, per step and lane, on a single server and a 3-primary
// cluster. The standby's ffdelay_due_soon says the same of the same data.
func TestForecast(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) {
		t.Run("standalone", func(t *testing.T) {
			s, c := ffServer(t, server, 16, "default", "payments")
			ctx := context.Background()
			now, err := fftest.ServerNowMs(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			scores := seededScores(t, c, now, 16, 50_000)
			url := "redis://" + s.Addr
			doc := forecast(t, bin, "--url", url)
			checkForecast(t, doc, scores)

			// The standby's figures, from the same data. They are counted
			// every 15 s by the server's clock then: a score may cross a
			// horizon's edge meanwhile, so they are compared as soon as
			// they agree, within two counts.
			_, sb, _ := startStandby(t, bin, "--interval", "200ms", "--url", url)
			deadline := time.Now().Add(35 * time.Second)
			for {
				serverNow, err := fftest.ServerNowMs(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				mismatch := dueSoonMismatch(sb, scores, serverNow)
				if mismatch == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not within 35s: %s", mismatch)
				}
				time.Sleep(200 * time.Millisecond)
			}

		})
		t.Run("cluster", func(t *testing.T) {
			cl, cc := ffCluster(t, server, 16)
			now, err := fftest.ServerNowMs(context.Background(), cc)
			if err != nil {
				t.Fatal(err)
			}
			scores := seededScores(t, cc, now, 16, 5_000)
			checkForecast(t, forecast(t, bin, "--cluster", "--url", cl.URL(), "--lane", "default,payments"), scores)
		})
	})
}

// dueSoonMismatch compares the standby's ffdelay_due_soon with the seeded
// scores at now; "" when every series agrees.
func dueSoonMismatch(sb standbyProbe, scores map[string][]int64, now int64) string {
	for _, lane := range []string{"default", "payments"} {
		for _, w := range []struct {
			label string
			d     time.Duration
		}{{"1m", time.Minute}, {"5m", 5 * time.Minute}, {"15m", 15 * time.Minute}, {"1h", time.Hour}} {
			var want int64
			for _, s := range scores[lane] {
				if s > now && s <= now+w.d.Milliseconds() {
					want++
				}
			}
			if got := sb.metric("ffdelay_due_soon", map[string]string{"lane": lane, "within": w.label}); got != float64(want) {
				return fmt.Sprintf("ffdelay_due_soon{lane=%q,within=%q} = %v, seeded %d", lane, w.label, got, want)
			}
		}
	}
	return ""
}
