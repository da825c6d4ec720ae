package stripe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

var update = flag.Bool("update", false, "rewrite the .golden.json files of the sample reports in testdata/stripe/reports")

const reportsDir = "../../testdata/stripe/reports"

// goldenLine is a ReportLine as the .golden.json files spell it.
type goldenLine struct {
	Line             int    `json:"line"`
	ID               string `json:"id,omitempty"`
	Category         string `json:"category,omitempty"`
	ProviderCategory string `json:"provider_category,omitempty"`
	PaymentRef       string `json:"payment_ref,omitempty"`
	PaymentOrder     string `json:"payment_order,omitempty"`
	Attempt          string `json:"attempt,omitempty"`
	Gross            string `json:"gross,omitempty"`
	Fee              string `json:"fee,omitempty"`
	Net              string `json:"net,omitempty"`
	CreatedAt        string `json:"created_at,omitempty"`
	Err              string `json:"err,omitempty"`
}

func toGolden(l providers.ReportLine) goldenLine {
	g := goldenLine{Line: l.Line, ID: l.ID}
	if l.Err != nil {
		g.Err = l.Err.Error()
		return g
	}
	g.Category, g.ProviderCategory = l.Category, l.ProviderCategory
	g.PaymentRef, g.PaymentOrder, g.Attempt = l.PaymentRef, l.PaymentOrder, l.Attempt
	g.Gross, g.Fee, g.Net = l.Gross.String(), l.Fee.String(), l.Net.String()
	g.CreatedAt = l.CreatedAt.Format(time.RFC3339)
	return g
}

// parseAll parses a report and checks the invariants every line must
// hold: increasing line numbers; an EINVALID error naming the line, or a
// well-formed line.
func parseAll(t testing.TB, c *Client, r io.Reader) ([]goldenLine, error) {
	t.Helper()
	var out []goldenLine
	prev := 0
	err := c.ParseSettlementReport(context.Background(), r, func(l providers.ReportLine) error {
		checkLine(t, l, prev)
		prev = l.Line
		out = append(out, toGolden(l))
		return nil
	})
	return out, err
}

func checkLine(t testing.TB, l providers.ReportLine, prev int) {
	t.Helper()
	if l.Line <= prev {
		t.Fatalf("line %d after line %d", l.Line, prev)
	}
	if l.Err != nil {
		var pe *paygate.Error
		if !errors.As(l.Err, &pe) || pe.Code != paygate.EINVALID || !strings.Contains(pe.Message, fmt.Sprintf("line %d", l.Line)) {
			t.Fatalf("line %d: Err = %v (%T), want an EINVALID *paygate.Error naming line %d", l.Line, l.Err, l.Err, l.Line)
		}
		return
	}
	if l.ID == "" || !l.Gross.Currency.Valid() || l.Gross.Currency != l.Fee.Currency || l.Fee.Currency != l.Net.Currency {
		t.Fatalf("line %d: %+v has no id or mixed currencies", l.Line, l)
	}
	if l.Gross.Minor-l.Fee.Minor != l.Net.Minor {
		t.Fatalf("line %d: gross %v - fee %v != net %v", l.Line, l.Gross, l.Fee, l.Net)
	}
	switch l.Category {
	case providers.ReportCharge, providers.ReportRefund, providers.ReportFee, providers.ReportPayout,
		providers.ReportDispute, providers.ReportAdjustment, providers.ReportOther:
	default:
		t.Fatalf("line %d: category %q is not a report category", l.Line, l.Category)
	}
}

// TestSampleReports parses every sample report and compares each line with
// its .golden.json file; -update rewrites them.
func TestSampleReports(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	for _, name := range []string{"clean", "messy", "errors"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(reportsDir, name+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := parseAll(t, c, f)
			if err != nil {
				t.Fatalf("ParseSettlementReport(%s.csv) = %v, want nil", name, err)
			}
			b, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			golden := filepath.Join(reportsDir, name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("ParseSettlementReport(%s.csv) =\n%s\nwant (%s)\n%s", name, b, golden, want)
			}
		})
	}
}

// TestParseSettlementReport spells out the expected line for each messy
// case, independently of the golden files.
func TestParseSettlementReport(t *testing.T) {
	const h = "balance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,payment_intent_id,payment_metadata[payment_order],payment_metadata[attempt]\n"
	created := time.Date(2024, 3, 1, 9, 15, 2, 0, time.UTC)
	ok := func(line int, cat, raw string, gross, fee, net int64, cur paygate.Currency) goldenLine {
		return toGolden(providers.ReportLine{Line: line, ID: "txn_1", Category: cat, ProviderCategory: raw,
			PaymentRef: "pi_1", PaymentOrder: "P-1", Attempt: "att_1",
			Gross: paygate.New(gross, cur), Fee: paygate.New(fee, cur), Net: paygate.New(net, cur), CreatedAt: created})
	}
	row := func(cat, gross, fee, net, cur string) string {
		return "txn_1,2024-03-01 09:15:02," + cat + "," + gross + "," + fee + "," + net + "," + cur + ",pi_1,P-1,att_1"
	}
	tests := []struct {
		name string
		in   string
		want []goldenLine
		// wantErr is a substring of each line's error, in order ("" for none).
		wantErr []string
	}{
		{"clean", h + row("charge", "25.00", "0.54", "24.46", "eur") + "\n",
			[]goldenLine{ok(2, "charge", "charge", 2500, 54, 2446, paygate.EUR)}, nil},
		{"bom crlf blank", "\uFEFF\r\n" + strings.ReplaceAll(h, "\n", "\r\n") + "\r\n" + row("charge", "1", "0", "1", "usd") + "\r\n\r\n",
			[]goldenLine{ok(4, "charge", "charge", 100, 0, 100, paygate.USD)}, nil},
		{"krw whole", h + row("charge", "15000", "435", "14565", "KRW"),
			[]goldenLine{ok(2, "charge", "charge", 15000, 435, 14565, paygate.KRW)}, nil},
		{"krw exact decimal", h + row("charge", "1500.0", "0", "1500.00", "krw"),
			[]goldenLine{ok(2, "charge", "charge", 1500, 0, 1500, paygate.KRW)}, nil},
		{"negative", h + row("refund", "-10.00", "-0.30", "-9.70", "eur"),
			[]goldenLine{ok(2, "refund", "refund", -1000, -30, -970, paygate.EUR)}, nil},
		{"unknown category", h + row("climate_order", "-0.50", "0", "-0.50", "eur"),
			[]goldenLine{ok(2, "other", "climate_order", -50, 0, -50, paygate.EUR)}, nil},
		{"columns reordered and extra", "net,x,\"desc, long\",currency,fee,gross,payment_intent_id,reporting_category,created_utc,balance_transaction_id,payment_metadata[payment_order],payment_metadata[attempt]\n" +
			"24.46,\"a,\"\"b\"\"\",,EUR,0.54,25.00,pi_1,charge,2024-03-01 09:15:02,txn_1,P-1,att_1\n",
			[]goldenLine{ok(2, "charge", "charge", 2500, 54, 2446, paygate.EUR)}, nil},
		{"multi-line quoted field", "\"balance_transaction_id\",created_utc,reporting_category,gross,fee,net,currency,description\n" +
			"txn_1,2024-03-01 09:15:02,payout,-1,0,-1,eur,\"one\ntwo\"\ntxn_1,2024-03-01 09:15:02,payout,-1,0,-1,eur,x\n",
			nil, []string{"", ""}},
		{"net mismatch", h + row("charge", "10.00", "0.30", "9.70", "eur") + "\n" + row("charge", "10.00", "0.30", "9.80", "eur"),
			nil, []string{"", `report line 3, column "net": net 9.80 is not gross 10.00 minus fee 0.30`}},
		{"unsupported currency", h + row("charge", "1000", "0", "1000", "jpy"),
			nil, []string{`report line 2, column "currency": unknown currency "JPY"`}},
		{"krw decimals", h + row("charge", "1500.5", "0", "1500.5", "krw"),
			nil, []string{`report line 2, column "gross": amount "1500.5" has decimals; KRW has no minor unit`}},
		{"field count", h + row("charge", "1,0", "0", "1", "eur"),
			nil, []string{"report line 2 has 11 fields, the header 10"}},
		{"bare quote", h + "txn_1,2024-03-01 09:15:02,charge,1\"0,0,1,eur,,,\n" + row("charge", "1", "0", "1", "eur"),
			nil, []string{"report line 2 is not valid CSV", ""}},
		{"bad time", h + strings.Replace(row("charge", "1", "0", "1", "eur"), "2024-03-01 09:15:02", "01/03/2024", 1),
			nil, []string{`column "created_utc": time "01/03/2024"`}},
		{"unix time", h + strings.Replace(row("charge", "1", "0", "1", "eur"), "2024-03-01 09:15:02", "1709284502", 1),
			[]goldenLine{ok(2, "charge", "charge", 100, 0, 100, paygate.EUR)}, nil},
	}
	c := newTestClient(t, "http://127.0.0.1:1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAll(t, c, strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseSettlementReport(%q) = %v, want nil", tt.in, err)
			}
			if tt.wantErr != nil {
				if len(got) != len(tt.wantErr) {
					t.Fatalf("ParseSettlementReport(%q) = %d lines %+v, want %d", tt.in, len(got), got, len(tt.wantErr))
				}
				for i, w := range tt.wantErr {
					if (w == "") != (got[i].Err == "") || !strings.Contains(got[i].Err, w) {
						t.Errorf("ParseSettlementReport(%q) line %d err = %q, want %q", tt.in, got[i].Line, got[i].Err, w)
					}
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("ParseSettlementReport(%q) =\n%+v\nwant\n%+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestParseSettlementReportFatal checks the errors that stop a parse.
func TestParseSettlementReportFatal(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	missing, err := os.ReadFile(filepath.Join(reportsDir, "missing_column.csv"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, want string
	}{
		{"missing column", string(missing), `stripe: the report header has no column "net"`},
		{"empty", "", "stripe: the report is empty"},
		{"blank", "\uFEFF\r\n\n", "stripe: the report is empty"},
		{"duplicate column", "balance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,NET\n", `column "net" twice`},
		{"bad header", "balance_transaction_id,\"created_utc\n", "report header (line 1) is not valid CSV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := c.ParseSettlementReport(context.Background(), strings.NewReader(tt.in), func(providers.ReportLine) error { calls++; return nil })
			if paygate.ErrorCode(err) != paygate.EINVALID || !strings.Contains(err.Error(), tt.want) || calls != 0 {
				t.Errorf("ParseSettlementReport(%q) = %v after %d lines, want EINVALID %q before any", tt.in, err, calls, tt.want)
			}
		})
	}

	// fn's error stops the parse and comes back unchanged.
	stop := errors.New("stop")
	f, err := os.Open(filepath.Join(reportsDir, "clean.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls := 0
	err = c.ParseSettlementReport(context.Background(), f, func(providers.ReportLine) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("ParseSettlementReport with fn failing = %v after %d lines, want %v after 1", err, calls, stop)
	}

	// A canceled context stops the parse.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.ParseSettlementReport(ctx, strings.NewReader(string(missing)), func(providers.ReportLine) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("ParseSettlementReport(canceled) = %v, want context.Canceled", err)
	}

	// A reader's error is returned.
	rerr := errors.New("disk on fire")
	err = c.ParseSettlementReport(context.Background(), io.MultiReader(strings.NewReader("balance_"), iotestErrReader{rerr}), func(providers.ReportLine) error { return nil })
	if !errors.Is(err, rerr) {
		t.Errorf("ParseSettlementReport(failing reader) = %v, want %v", err, rerr)
	}
}

// newReportClient returns a client for parsing reports only.
func newReportClient(t testing.TB) *Client {
	t.Helper()
	c, err := New(Config{SecretKey: testKey})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// FuzzParseSettlementReport checks that ParseSettlementReport never panics,
// returns nil or an EINVALID error, and that every line it hands on either
// is well formed or carries an EINVALID error naming its line. Seeds are
// the sample reports and testdata/fuzz/FuzzParseSettlementReport.
func FuzzParseSettlementReport(f *testing.F) {
	samples, err := filepath.Glob(filepath.Join(reportsDir, "*.csv"))
	if err != nil || len(samples) == 0 {
		f.Fatalf("no sample reports in %s: %v", reportsDir, err)
	}
	for _, s := range samples {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	c := newReportClient(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		prev := 0
		err := c.ParseSettlementReport(context.Background(), bytes.NewReader(in), func(l providers.ReportLine) error {
			checkLine(t, l, prev)
			prev = l.Line
			return nil
		})
		if err != nil && paygate.ErrorCode(err) != paygate.EINVALID {
			t.Fatalf("ParseSettlementReport(%q) = %v, want nil or EINVALID", in, err)
		}
	})
}

// reportGenerator writes a report of n lines on the fly, so the benchmark
// never holds the report in memory.
type reportGenerator struct {
	n, i int
	buf  []byte
}

func (g *reportGenerator) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i > g.n {
			return 0, io.EOF
		}
		if g.i == 0 {
			g.buf = append(g.buf, "balance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,description,payment_intent_id,payment_metadata[payment_order],payment_metadata[attempt]\r\n"...)
		} else {
			g.buf = fmt.Appendf(g.buf, "txn_%024d,2024-03-01 09:15:02,charge,%d.50,0.54,%d.96,eur,\"order %d, mug\",pi_%024d,P-%d,att_%d\r\n",
				g.i, g.i, g.i-1, g.i, g.i, g.i, g.i)
		}
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// BenchmarkParseSettlementReport parses a generated 100,000-line report
// and reports lines/s, bytes/s (MB/s), allocations, and the peak live heap
// sampled while parsing, which stays flat whatever the report's size.
func BenchmarkParseSettlementReport(b *testing.B) {
	const lines = 100_000
	c := newReportClient(b)
	var size int64
	{
		n, err := io.Copy(io.Discard, &reportGenerator{n: lines})
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var peak uint64
	var ms runtime.MemStats
	for b.Loop() {
		got := 0
		err := c.ParseSettlementReport(context.Background(), &reportGenerator{n: lines}, func(l providers.ReportLine) error {
			if l.Err != nil {
				return l.Err
			}
			got++
			if got%20_000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			return nil
		})
		if err != nil || got != lines {
			b.Fatalf("ParseSettlementReport = %v after %d lines, want nil after %d", err, got, lines)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}
