package financeui

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/storage"
)

// chartDays is how many days the dashboard charts, today included.
const chartDays = 14

// settled is one succeeded attempt's amount, on its day.
type settled struct {
	Method string
	Day    string // 2006-01-02, UTC
	Amount paygate.Money
}

// settledSince lists the amounts of the attempts that succeeded (were last
// updated) since from, with their payment order's currency.
func settledSince(ctx context.Context, tx *storage.Tx, from time.Time) ([]settled, error) {
	var rows []struct {
		Method    string    `db:"method"`
		Currency  string    `db:"currency"`
		Amount    int64     `db:"amount"`
		UpdatedAt time.Time `db:"updated_at"`
	}
	if err := tx.Select(ctx, &rows, `SELECT a.method, o.currency, a.amount, a.updated_at
		FROM payment_attempts a JOIN payment_orders o ON o.number = a.payment_order
		WHERE a.status = ? AND a.currency = o.currency AND a.updated_at >= ?`,
		string(checkout.AttemptSucceeded), from); err != nil {
		return nil, fmt.Errorf("financeui: settled volume: %w", err)
	}
	out := make([]settled, len(rows))
	for i, r := range rows {
		out[i] = settled{Method: r.Method, Day: r.UpdatedAt.UTC().Format(time.DateOnly),
			Amount: paygate.New(r.Amount, paygate.Currency(r.Currency))}
	}
	return out, nil
}

// Chart geometry, in SVG user units: the chart scales to its box.
const (
	chartWidth  = 560
	chartHeight = 220
	chartLeft   = 8   // room left of the bars
	chartTop    = 22  // room for the maximum's label
	chartBottom = 196 // the baseline; below it the day labels
)

// methodColors are the bars' colors, by the method's place in the legend.
var methodColors = []string{"#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"}

// chart is one currency's small multiple.
type chart struct {
	Currency paygate.Currency
	Total    paygate.Money
	Max      paygate.Money // the tallest day
	Width    int
	Height   int
	Baseline int
	Bars     []bar
	Labels   []dayLabel
	Legend   []legendEntry
}

type bar struct {
	X, Y, W, H int
	Fill       string
	Title      string // the tooltip: day, method, amount
}

type dayLabel struct {
	X    int
	Y    int
	Text string
}

type legendEntry struct {
	Method string
	Fill   string
	Total  paygate.Money
}

// days returns the chartDays days ending with today's, oldest first.
func days(now time.Time) []string {
	today := now.UTC().Truncate(24 * time.Hour)
	out := make([]string, chartDays)
	for i := range out {
		out[i] = today.AddDate(0, 0, i-chartDays+1).Format(time.DateOnly)
	}
	return out
}

// charts builds one stacked bar chart per currency: a bar per day, a
// segment per method. Amounts of different currencies are never added.
func charts(rows []settled, now time.Time) []chart {
	ds := days(now)
	dayIndex := map[string]int{}
	for i, d := range ds {
		dayIndex[d] = i
	}
	type key struct {
		cur    paygate.Currency
		day    int
		method string
	}
	sums := map[key]int64{}
	methods := map[paygate.Currency]map[string]int64{}
	for _, r := range rows {
		i, ok := dayIndex[r.Day]
		if !ok {
			continue
		}
		c := r.Amount.Currency
		sums[key{c, i, r.Method}] += r.Amount.Minor
		if methods[c] == nil {
			methods[c] = map[string]int64{}
		}
		methods[c][r.Method] += r.Amount.Minor
	}
	var curs []paygate.Currency
	for c := range methods {
		curs = append(curs, c)
	}
	sort.Slice(curs, func(i, j int) bool { return curs[i] < curs[j] })

	out := make([]chart, 0, len(curs))
	slot := (chartWidth - chartLeft) / chartDays
	for _, c := range curs {
		ch := chart{Currency: c, Width: chartWidth, Height: chartHeight, Baseline: chartBottom}
		var names []string
		var total int64
		for m, v := range methods[c] {
			names = append(names, m)
			total += v
		}
		sort.Strings(names)
		fill := map[string]string{}
		for i, m := range names {
			fill[m] = methodColors[i%len(methodColors)]
			ch.Legend = append(ch.Legend, legendEntry{Method: m, Fill: fill[m], Total: paygate.New(methods[c][m], c)})
		}
		ch.Total = paygate.New(total, c)
		var peak int64
		for i := range ds {
			var day int64
			for _, m := range names {
				day += sums[key{c, i, m}]
			}
			peak = max(peak, day)
		}
		ch.Max = paygate.New(peak, c)
		for i, d := range ds {
			x := chartLeft + i*slot
			y := chartBottom
			for _, m := range names {
				v := sums[key{c, i, m}]
				if v == 0 {
					continue
				}
				h := int(v * int64(chartBottom-chartTop) / peak)
				h = max(h, 2) // a small amount stays visible
				y -= h
				ch.Bars = append(ch.Bars, bar{X: x + 3, Y: y, W: slot - 6, H: h, Fill: fill[m],
					Title: d + " " + m + " " + paygate.New(v, c).Display()})
			}
			if (chartDays-1-i)%2 == 0 { // every other day, ending today
				ch.Labels = append(ch.Labels, dayLabel{X: x + slot/2, Y: chartBottom + 16, Text: d[5:]})
			}
		}
		out = append(out, ch)
	}
	return out
}
