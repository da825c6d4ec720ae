package stripesim

import (
	"errors"
	"slices"
	"testing"

	stripe "github.com/stripe/stripe-go/v76"
	stripeform "github.com/stripe/stripe-go/v76/form"
)

func TestParseForm(t *testing.T) {
	tests := []struct {
		raw  string
		path []string
		want string
	}{
		{"amount=1050", []string{"amount"}, "1050"},
		{"metadata[payment_order]=P12345678", []string{"metadata", "payment_order"}, "P12345678"},
		{"payment_method_data[billing_details][address][city]=S%C3%A3o+Paulo", []string{"payment_method_data", "billing_details", "address", "city"}, "São Paulo"},
		{"payment_method_types%5B0%5D=ideal", []string{"payment_method_types", "0"}, "ideal"}, // brackets escaped, as browsers send them
		{"a[]=x&a[]=y", []string{"a", "1"}, "y"},
		{"a=1&a=2", []string{"a"}, "2"}, // the last value wins
		{"a=b%3Dc%26d", []string{"a"}, "b=c&d"},
		{"&&a=1&", []string{"a"}, "1"},
		{"a", []string{"a"}, ""},
	}
	for _, tc := range tests {
		f, err := parseForm(tc.raw)
		if err != nil {
			t.Errorf("parseForm(%q) = %v", tc.raw, err)
			continue
		}
		if got, ok := f.str(tc.path...); !ok || got != tc.want {
			t.Errorf("parseForm(%q).str(%v) = %q, %v, want %q", tc.raw, tc.path, got, ok, tc.want)
		}
	}
}

func TestParseFormErrors(t *testing.T) {
	tests := []string{
		"a=1&a[b]=2",
		"a[b]=2&a=1",
		"[a]=1",
		"a[b=1",
		"a[b]c=1",
		"a]=1&b[=2",
		"a=%zz",
		"%zz=1",
		"a[1][2][3][4][5][6][7][8][9]=1",
	}
	for _, raw := range tests {
		if _, err := parseForm(raw); !errors.Is(err, errForm) {
			t.Errorf("parseForm(%q) = %v, want errForm", raw, err)
		}
	}
}

func TestFormList(t *testing.T) {
	tests := []struct {
		raw    string
		want   []string
		wantOK bool
	}{
		{"t[1]=b&t[0]=a&t[10]=c", []string{"a", "b", "c"}, true},
		{"t[]=a&t[]=b", []string{"a", "b"}, true},
		{"t[0]=a&t[]=b", []string{"a", "b"}, true},
		{"", nil, true},
		{"t=a", nil, false},
		{"t[x]=a", nil, false},
		{"t[1]=a&t[01]=b", nil, false},
		{"t[0][x]=a", nil, false},
	}
	for _, tc := range tests {
		f, err := parseForm(tc.raw)
		if err != nil {
			t.Fatalf("parseForm(%q) = %v", tc.raw, err)
		}
		got, ok := f.list("t")
		if ok != tc.wantOK || !slices.Equal(got, tc.want) {
			t.Errorf("parseForm(%q).list(t) = %v, %v, want %v, %v", tc.raw, got, ok, tc.want, tc.wantOK)
		}
	}
}

// TestFormStripeGoEncoding parses what stripe-go v76 itself encodes.
func TestFormStripeGoEncoding(t *testing.T) {
	p := boletoParams()
	p.PaymentMethodTypes = append(p.PaymentMethodTypes, stripe.String("boleto"))
	p.AddExpand("latest_charge")
	vals := &stripeform.Values{}
	stripeform.AppendTo(vals, p)
	f, err := parseForm(vals.Encode())
	if err != nil {
		t.Fatalf("parseForm(%q) = %v", vals.Encode(), err)
	}
	checks := []struct {
		path []string
		want string
	}{
		{[]string{"amount"}, "12345"},
		{[]string{"currency"}, "brl"},
		{[]string{"confirm"}, "true"},
		{[]string{"metadata", "payment_order"}, "P12345678"},
		{[]string{"payment_method_types", "1"}, "boleto"},
		{[]string{"payment_method_data", "billing_details", "address", "city"}, "São Paulo"},
		{[]string{"payment_method_data", "boleto", "tax_id"}, "529.982.247-25"},
		{[]string{"payment_method_options", "boleto", "expires_after_days"}, "5"},
		{[]string{"expand", "0"}, "latest_charge"},
	}
	for _, c := range checks {
		if got, ok := f.str(c.path...); !ok || got != c.want {
			t.Errorf("str(%v) = %q, %v, want %q", c.path, got, ok, c.want)
		}
	}
	// Reordering the parameters keeps the fingerprint.
	g, err := parseForm("currency=brl&" + vals.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if f.canonical() != g.canonical() {
		t.Errorf("canonical forms differ:\n%s\n%s", f.canonical(), g.canonical())
	}
}

// FuzzParseForm checks that any body parses or fails cleanly, and that a
// parsed form survives its canonical encoding.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{
		"amount=1050&currency=eur&payment_method_types[0]=ideal&confirm=true",
		"payment_method_data[billing_details][address][city]=S%C3%A3o+Paulo&metadata[payment_order]=P12345678",
		"a[]=1&a[]=2&a[0]=3",
		"a=1&a[b]=2",
		"a[b[c]]=1",
		"%5B%5D=%5B",
		"a[1][2][3][4][5][6][7][8]=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := parseForm(raw)
		if err != nil {
			if !errors.Is(err, errForm) {
				t.Fatalf("parseForm(%q) = %v, not errForm", raw, err)
			}
			return
		}
		canon := form.canonical()
		again, err := parseForm(canon)
		if err != nil {
			t.Fatalf("parseForm(canonical %q of %q) = %v", canon, raw, err)
		}
		if got := again.canonical(); got != canon {
			t.Fatalf("canonical not stable for %q: %q then %q", raw, canon, got)
		}
		// The accessors never panic on any shape.
		for _, k := range form.keys() {
			form.str(k)
			form.list(k)
			form.strMap(k)
			form.get(k, "0", "x")
		}
	})
}
