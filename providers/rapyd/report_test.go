package rapyd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/paygate/paygate/providers/rapyd"
)

const reportsDir = "../../testdata/rapyd/reports"

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
func parseAll(t testing.TB, c *rapyd.Client, r io.Reader) ([]goldenLine, error) {
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
	c := newClient(t, rapyd.Config{})
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

// TestReportColumns checks Config.ReportColumns: a mapping to a report's own
// headers, and the mappings New refuses.
func TestReportColumns(t *testing.T) {
	c := newClient(t, rapyd.Config{ReportColumns: map[providers.ReportField]string{
		providers.ReportID:           "Txn Id",
		providers.ReportGross:        "Amount",
		providers.ReportFeeAmount:    "Fees",
		providers.ReportNet:          "Net",
		providers.ReportCurrency:     "Currency Code",
		providers.ReportPaymentOrder: "", // dropped: the report has no such column
	}})
	in := "Net,Fees,Amount,Currency Code,transaction_type,created_at,Txn Id,payment_id,merchant_reference_id,metadata_payment_order\n" +
		"970,30,1000,KRW,PAYMENT,2024-03-01 09:00:00,tx_1,payment_1,att_1,P-9\n"
	got, err := parseAll(t, c, strings.NewReader(in))
	if err != nil {
		t.Fatalf("ParseSettlementReport(%q) = %v, want nil", in, err)
	}
	want := []goldenLine{{Line: 2, ID: "tx_1", Category: "charge", ProviderCategory: "PAYMENT", PaymentRef: "payment_1", Attempt: "att_1",
		Gross: "1000 KRW", Fee: "30 KRW", Net: "970 KRW", CreatedAt: "2024-03-01T09:00:00Z"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseSettlementReport(%q) = %+v, want %+v", in, got, want)
	}

	// The default names are not looked for once remapped.
	def, err := os.ReadFile(filepath.Join(reportsDir, "clean.csv"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.ParseSettlementReport(context.Background(), bytes.NewReader(def), func(providers.ReportLine) error { return nil })
	if paygate.ErrorCode(err) != paygate.EINVALID || !strings.Contains(err.Error(), `rapyd: the report header has no column "Txn Id"`) {
		t.Errorf("ParseSettlementReport(clean.csv) with remapped columns = %v, want a missing column", err)
	}

	for _, tt := range []struct {
		name string
		cols map[providers.ReportField]string
		want string
	}{
		{"unknown field", map[providers.ReportField]string{"colour": "x"}, `"colour" is not a report field`},
		{"empty required", map[providers.ReportField]string{providers.ReportNet: " "}, `the report column of "net" is empty`},
		{"same header", map[providers.ReportField]string{providers.ReportFeeAmount: "NET_AMOUNT"}, `have the same column`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rapyd.New(rapyd.Config{AccessKey: testAccess, SecretKey: testSecret, ReportColumns: tt.cols})
			if paygate.ErrorCode(err) != paygate.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(ReportColumns %v) = %v, want EINVALID %q", tt.cols, err, tt.want)
			}
		})
	}
}

// TestParseSettlementReportFatal checks the errors that stop a parse.
func TestParseSettlementReportFatal(t *testing.T) {
	c := newClient(t, rapyd.Config{})
	missing, err := os.ReadFile(filepath.Join(reportsDir, "missing_column.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"missing column", string(missing), `rapyd: the report header has no column "net_amount"`},
		{"empty", "\uFEFF", "rapyd: the report is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := c.ParseSettlementReport(context.Background(), strings.NewReader(tt.in), func(providers.ReportLine) error { calls++; return nil })
			if paygate.ErrorCode(err) != paygate.EINVALID || !strings.Contains(err.Error(), tt.want) || calls != 0 {
				t.Errorf("ParseSettlementReport(%q) = %v after %d lines, want EINVALID %q before any", tt.in, err, calls, tt.want)
			}
		})
	}
}

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
	c := newClient(f, rapyd.Config{})
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
			g.buf = append(g.buf, "transaction_id,created_at,transaction_type,payment_id,merchant_reference_id,metadata_payment_order,gross_amount,fee_amount,net_amount,currency,note\r\n"...)
		} else {
			g.buf = fmt.Appendf(g.buf, "tx_%024d,2024-03-01 09:00:00,PAYMENT,payment_%024d,att_%d,P-%d,%d,300,%d,KRW,\"kakaopay, %d\"\r\n",
				g.i, g.i, g.i, g.i, 10000+g.i, 9700+g.i, g.i)
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
	c := newClient(b, rapyd.Config{})
	size, err := io.Copy(io.Discard, &reportGenerator{n: lines})
	if err != nil {
		b.Fatal(err)
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
