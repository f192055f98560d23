package commands

import (
	"context"
	"time"

	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/urfave/cli/v2"
)

// forecastOptions are forecast's parsed flags.
type forecastOptions struct {
	Scope        scopeOptions
	Window, Step time.Duration
}

// maxForecastSteps bounds --window/--step: a table a person reads, and a
// fixed number of counts per set on the server.
const maxForecastSteps = 120

func newForecastCommand(ctx context.Context, d *deps) *cli.Command {
	var flags []cli.Flag
	for _, f := range scopeFlags() {
		// What falls due later is not a figure of a run to export.
		if f.Names()[0] != flagMetricsFile {
			flags = append(flags, f)
		}
	}
	return &cli.Command{
		Name:  "forecast",
		Usage: "show how many delayed executions fall due in each step of the coming window (read-only)",
		UsageText: `ffdelay forecast [options]

Examples:
   ffdelay forecast                               the next hour in steps of 5 minutes
   ffdelay forecast --window 24h --step 1h        the next day, hour by hour
   ffdelay forecast --window 10m --step 30s -o json`,
		Flags: append(flags,
			&cli.StringFlag{Name: flagWindow, Usage: "how far ahead to look, `D`", Value: "1h"},
			&cli.StringFlag{Name: flagStep, Usage: "the width `D` of each step (at most 120 steps in the window)", Value: "5m"},
		),
		Action: clientAction(ctx, d, parseForecastOptions, runForecast),
	}
}

func parseForecastOptions(c *cli.Context, d *deps) (forecastOptions, error) {
	var o forecastOptions
	if c.NArg() > 0 {
		return o, usageError("forecast takes no arguments, got %q", c.Args().First())
	}
	scope, err := parseScopeOptions(c, d)
	if err != nil {
		return o, err
	}
	o.Scope = scope
	if o.Window, err = parseDuration("--"+flagWindow, c.String(flagWindow)); err != nil {
		return o, usageError("%v", err)
	}
	if o.Step, err = parseDuration("--"+flagStep, c.String(flagStep)); err != nil {
		return o, usageError("%v", err)
	}
	if o.Step < time.Millisecond || o.Window < time.Millisecond {
		return o, usageError("--window and --step are counted in milliseconds: use 1ms or more")
	}
	window, step := c.String(flagWindow), c.String(flagStep)
	if o.Step > o.Window {
		return o, usageError("--step %s is longer than --window %s: use a shorter step or a longer window", step, window)
	}
	if n := forecastSteps(o.Window, o.Step); n > maxForecastSteps {
		return o, usageError("--window %s in steps of %s is %d steps; at most %d: use a longer --step or a shorter --window", window, step, n, maxForecastSteps)
	}
	return o, nil
}

// forecastSteps is how many steps cover the window (the last one may be
// shorter).
func forecastSteps(window, step time.Duration) int {
	return int((window + step - 1) / step)
}

// forecastGrid lays the window's steps on the server's clock: they end on
// whole multiples of the step (5m steps end at :00, :05, ...), so a wave
// lands in the same step whenever it is looked at; the first step runs
// from now to the first boundary and the last ends with the window.
func forecastGrid(window, step time.Duration) func(nowMs int64) []int64 {
	return func(now int64) []int64 {
		s, end := step.Milliseconds(), now+window.Milliseconds()
		var ends []int64
		for b := (now/s + 1) * s; b < end; b += s {
			ends = append(ends, b)
		}
		return append(ends, end)
	}
}

// gridAfter is a grid of steps that end the given times after now: what
// falls due within 1m, 5m... (a standby's ffdelay_due_soon, top's next
// hour), unlike forecastGrid's steps on whole multiples.
func gridAfter(after []time.Duration) func(nowMs int64) []int64 {
	return func(now int64) []int64 {
		ends := make([]int64, len(after))
		for i, d := range after {
			ends[i] = now + d.Milliseconds()
		}
		return ends
	}
}

// runForecast counts what falls due in each step of the window, per lane,
// by each primary's clock. It reads only.
func runForecast(ctx context.Context, o forecastOptions, client *redisops.Client, p *output.Printer) error {
	sample := sampleLanes(ctx, client, o.Scope)
	if sample != nil {
		defer func() { <-sample.done }()
	}
	scope, err := resolveScope(ctx, client, o.Scope, p)
	if err != nil {
		return err
	}
	fc, err := client.Forecast(ctx, scope.Scope, scope.Registry.Snapshot, forecastGrid(o.Window, o.Step))
	if err != nil {
		return err
	}
	delayed := map[string]int64{}
	for lane, counts := range fc.Lanes {
		for _, n := range counts {
			delayed[lane] += n
		}
	}
	noData := warnEmptyScope(p, o.Scope, scope, delayed)
	p.Forecast(output.NewForecastReport(fc, o.Step, o.Window, scope.allLanes()), output.ForecastTable{
		Partitions: len(scope.AllPartitions()), NoData: noData})
	if !noData {
		if err := sample.warn(p, scope); err != nil {
			return err
		}
	}
	return nil
}
