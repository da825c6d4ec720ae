package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// barWidth is the width of the progress bar's bar.
const barWidth = 30

// progress redraws a one-line progress bar on w every quarter second until
// stop is closed, then ends the line.
func (b *bench) progress(w io.Writer, start time.Time, stop <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			fmt.Fprintf(w, "\r%s\n", b.progressLine(time.Since(start)))
			return
		case <-t.C:
			fmt.Fprintf(w, "\r%s", b.progressLine(time.Since(start)))
		}
	}
}

// progressLine is the bar: the run's progress (orders, or time for a run
// of a duration), completed orders and their rate, failures and errors.
func (b *bench) progressLine(elapsed time.Duration) string {
	done, failed := b.stats.completed.Load(), b.stats.failed.Load()
	errs, _ := b.stats.errors()
	frac, total := 0.0, ""
	switch {
	case b.cfg.orders > 0 && (b.cfg.duration == 0 || float64(done+failed)/float64(b.cfg.orders) > elapsed.Seconds()/b.cfg.duration.Seconds()):
		frac, total = float64(done+failed)/float64(b.cfg.orders), fmt.Sprintf("/%d", b.cfg.orders)
	case b.cfg.duration > 0:
		frac, total = elapsed.Seconds()/b.cfg.duration.Seconds(), ""
	}
	frac = min(max(frac, 0), 1)
	fill := int(frac * barWidth)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	return fmt.Sprintf("[%s%s] %3.0f%%  %d%s orders  %.0f/s  failed %d  errors %d  %s ",
		strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill), frac*100, done, total, rate, failed, errs,
		elapsed.Truncate(time.Second))
}
