package redact

import (
	"bytes"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		// CPF and CNPJ, formatted always, bare with valid check digits.
		{"cpf 529.982.247-25 here", "cpf ***.***.*47-25 here"},
		{`"tax_id":"52998224725"`, `"tax_id":"***.***.*47-25"`},
		{"cnpj 11.222.333/0001-81.", "cnpj **.***.***/**01-81."},
		{"cnpj 11222333000181", "cnpj **.***.***/**01-81"},
		{"new cnpj 12.ABC.345/01DE-35", "new cnpj **.***.***/**DE-35"},
		{"bad check digits 52998224724 stay", "bad check digits 52998224724 stay"},
		// Emails.
		{"payer joao.silva+x@example.com.br paid", "payer j***@example.com.br paid"},
		{`"actor":"finance:alice@example.com"`, `"actor":"finance:a***@example.com"`},
		{"not an email: a@b, @example.com, x@y.z", "not an email: a@b, @example.com, x@y.z"},
		// Phones.
		{"phone +55 11 91234-5678.", "phone +** ** *****-**78."},
		{"phone (11) 91234-5678", "phone (**) *****-**78"},
		{"phone 010-1234-5678", "phone ***-****-**78"},
		{`"phone":"+6591234567"`, `"phone":"+********67"`},
		// Keys, secrets, tokens.
		{"key pgk_0123456789abcdef_" + strings.Repeat("ab", 32), "key pgk_0123456789abcdef_REDACTED"},
		{"stripe sk_test_51Habcdefghijklmn and whsec_abcdefghijklmnop", "stripe sk_test_REDACTED and whsec_REDACTED"},
		{`"client_secret":"pi_3NxYz12345678901234_secret_AbCdEfGhIjKlMnOpQrStUvWxY"`, `"client_secret":"pi_3NxYz12345678901234_secret_REDACTED"`},
		{"r?payment_intent=pi_1&payment_intent_client_secret=pi_1_secret_0123456789abcdef&redirect_status=succeeded", "r?payment_intent=pi_1&payment_intent_client_secret=pi_1_secret_REDACTED&redirect_status=succeeded"},
		{"seti_1Abc_secret_zyxwvutsrqponm src_1Xy_secret_abcdefghij1234", "seti_1Abc_secret_REDACTED src_1Xy_secret_REDACTED"},
		{`GET /checkout/P12345678?t=abc.DEF-123_x&lang=pt HTTP/1.1`, `GET /checkout/P12345678?t=REDACTED&lang=pt HTTP/1.1`},
		{`"url":"http://h/checkout/P12345678?x=1\u0026t=abc"`, `"url":"http://h/checkout/P12345678?x=1\u0026t=REDACTED"`},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestKeeps shows the patterns leave paygate's own numbers and the usual
// fields of a log line alone.
func TestKeeps(t *testing.T) {
	for _, s := range []string{
		`{"level":"info","time":"2026-11-26T03:19:33Z","pid":12345,"request_id":"3f2a9c0d1e4b5a6978877665544332211","http_method":"POST","path":"/v1/payment-orders/P12345678/attempts","route":"/v1/payment-orders/{number}/attempts","http_status":201,"bytes":512,"duration_ms":12.3456,"remote_addr":"127.0.0.1:54321","message":"request"}`,
		"P12345678 K1234567 K7654321",
		"12.50 EUR 1500 KRW 123456789.01 BRL -12.50 +1.50",
		"att_0123456789abcdef01234567 pi_3NxYz12345678901234 evt_12345678901234567890 ch_12345678901",
		"2026-11-26 03:19:33.123456+00 1764127173 1764127173123 1764127173123456789",
		"payment:P12345678:settled order:K1234567:completed user:U42:balance escrow:K1234567",
		"12345678901234567890 10.0.0.1 192.168.100.200:8080 v1.2.3 2026-11-26",
		"550e8400-e29b-41d4-a716-446655440000 12345678-1234-1234-1234-123456789012",
		"boleto 23793.38128 60000.000003 00000.000400 1 84340000010000",
		"duration 1.234567s 250ms 1h2m3s",
	} {
		if got := String(s); got != s {
			t.Errorf("String(%q) = %q, want it unchanged", s, got)
		}
	}
}

func TestSecrets(t *testing.T) {
	r := New("rsk_sandbox_0123456789", "short", "")
	in := "signature with rsk_sandbox_0123456789 failed; short words stay"
	want := "signature with REDACTED failed; short words stay"
	if got := r.String(in); got != want {
		t.Errorf("String(%q) = %q, want %q", in, got, want)
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, r)
	line := []byte(`{"message":"rsk_sandbox_0123456789 529.982.247-25"}` + "\n")
	orig := string(line)
	if n, err := w.Write(line); n != len(line) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
	}
	if got, want := buf.String(), `{"message":"REDACTED ***.***.*47-25"}`+"\n"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}
	if string(line) != orig {
		t.Errorf("Write changed its argument to %q", line)
	}
}

// BenchmarkAccessLine measures the writer's cost on a typical access-log
// line, which has nothing to mask.
func BenchmarkAccessLine(b *testing.B) {
	r := New("sk_test_sandbox_0123456789abcdef", "whsec_0123456789abcdef0123456789abcdef0123456789", "rak_sandbox_0123456789abcdef", "rsk_sandbox_0123456789abcdef0123456789abcdef01234567")
	line := []byte(`{"level":"info","time":"2026-11-26T03:19:33Z","pid":12345,"request_id":"3f2a9c0d1e4b5a6978877665544332211","http_method":"POST","path":"/v1/payment-orders/P12345678/attempts","route":"/v1/payment-orders/{number}/attempts","http_status":201,"bytes":512,"duration_ms":12.3456,"remote_addr":"127.0.0.1:54321","message":"request"}` + "\n")
	w := NewWriter(discard{}, r)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(line)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestJSON(t *testing.T) {
	in := `{"id":"evt_1","amount":10000,"big":12345678901234567890,"data":{"object":{"billing_details":{"name":"Maria Silva","email":"maria@example.com","phone":"+55 11 91234-5678","address":{"line1":"Av. Paulista 1000","city":"São Paulo","postal_code":"01310-100"}},"payment_method_details":{"boleto":{"tax_id":"52998224725"}},"receipt_email":null,"description":"contact maria@example.com","metadata":{"payment_order":"P12345678"},"lines":[{"name":"Ana"}]}}}`
	got := string(New().JSON([]byte(in)))
	want := `{"amount":10000,"big":12345678901234567890,"data":{"object":{"billing_details":{"address":{"city":"São Paulo","line1":"***","postal_code":"***"},"email":"m***@example.com","name":"M***","phone":"+** ** *****-**78"},"description":"contact m***@example.com","lines":[{"name":"A***"}],"metadata":{"payment_order":"P12345678"},"payment_method_details":{"boleto":{"tax_id":"***.***.*47-25"}},"receipt_email":null}},"id":"evt_1"}`
	if got != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
	if got := string(New().JSON([]byte("not json 529.982.247-25"))); got != "not json ***.***.*47-25" {
		t.Errorf("JSON(text) = %q", got)
	}
}

func TestDSN(t *testing.T) {
	tests := []struct {
		dsn, want string
		secrets   []string
	}{
		{"paygate.db", "paygate.db", nil},
		{"/var/lib/paygate/p.db", "/var/lib/paygate/p.db", nil},
		{"postgres://paygate@db:5432/pg?sslmode=disable", "postgres://paygate@db:5432/pg?sslmode=disable", nil},
		{"postgres://paygate:hunter2secret@db/pg", "postgres://paygate:REDACTED@db/pg", []string{"hunter2secret"}},
		{"postgres://paygate@db/pg?password=hunter3secret&sslmode=require", "postgres://paygate@db/pg?password=REDACTED&sslmode=require", []string{"hunter3secret"}},
		{"postgresql://db/pg?PassWord=a%26b&sslpassword=keypass", "postgresql://db/pg?PassWord=REDACTED&sslpassword=REDACTED", []string{"a&b", "keypass"}},
		{"postgres://u:p@[bad/x?password=zz", "(unparsable URL)", nil},
	}
	for _, tt := range tests {
		if got := DSN(tt.dsn); got != tt.want {
			t.Errorf("DSN(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
		got := DSNSecrets(tt.dsn)
		for _, s := range tt.secrets {
			found := false
			for _, g := range got {
				found = found || g == s
			}
			if !found {
				t.Errorf("DSNSecrets(%q) = %q, want %q among them", tt.dsn, got, s)
			}
		}
	}
}
