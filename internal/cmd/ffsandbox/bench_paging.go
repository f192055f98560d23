//go:build ffsandbox

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
)

// benchPaging is the tenant-triggered case of paging: n due members that
// all stay in one set (filtered out by --namespace, in a dry run), walked
// page by page. The server's own time in ZRANGEBYSCORE (INFO
// commandstats) must grow with n, not with n squared: resuming by score
// keeps every read as cheap as the first.
func benchPaging(cfg benchConfig, emit func(benchRow)) error {
	ctx := context.Background()
	var first time.Duration
	for i, n := range []int{cfg.large, 2 * cfg.large} {
		s, c, stop, err := backlogServer(cfg, n, 1, lanesN(1), fftest.Due)
		if err != nil {
			return err
		}
		if err := c.ConfigResetStat(ctx).Err(); err != nil {
			stop()
			return err
		}
		r, err := runToDevNull(cfg.bin, "promote", "--dry-run", "--namespace", "nobody", "--url", "redis://"+s.Addr, "-o", "json")
		info, _ := c.Info(ctx, "commandstats").Result()
		stop()
		if err != nil {
			return err
		}
		st := fftest.ParseCommandStat(info, "zrangebyscore")
		total := time.Duration(st.Usec) * time.Microsecond
		row := benchRow{name: fmt.Sprintf("paging past %s stayers in one set (dry run, --namespace nobody)", count(n)),
			ffdelay:  r.wall.Round(time.Millisecond).String(),
			baseline: fmt.Sprintf("ZRANGEBYSCORE: %d calls, %s server time, %.0fµs per call", st.Calls, total.Round(time.Millisecond), float64(st.Usec)/float64(max(1, st.Calls))),
			ping:     "-", rss: mb(r.rssKB)}
		if i == 0 {
			first = total
			row.ratio = "-"
		} else {
			ratio := float64(total) / float64(first)
			row.ratio = fmt.Sprintf("%.2fx the server time of half as many", ratio)
			// Linear doubles; offset paging (the first round) quadrupled.
			row.target, row.ok = "< 3x for twice the members (linear)", ratio < 3
		}
		emit(row)
	}
	return nil
}
