package checkout

import (
	"testing"

	"github.com/paygate/paygate"
)

// openRedirects are return URLs that must never be accepted with the
// allow-list localhost, 127.0.0.1, shop.example:8443: each would send the
// buyer's browser, from the checkout page's "Back to the shop" link, to a
// host that is not on it, or is not a URL a browser reads as ours.
var openRedirects = []string{
	"https://evil.example",
	"https://evil.example/",
	"//evil.example",
	"//localhost",
	"/relative/path",
	"evil.example",
	"https://localhost@evil.example",
	"https://localhost:443@evil.example",
	"https://user:pass@localhost/",
	`https://evil.example\@localhost`,
	`https://localhost\@evil.example`,
	`https:\\evil.example`,
	`https:/\evil.example`,
	"https:/evil.example",
	"https:evil.example",
	"https://localhost.evil.example",
	"https://evil.example/localhost",
	"https://evil.example?localhost",
	"https://evil.example#localhost",
	"https://evillocalhost",
	"https://localhost./",
	"http://127.0.0.1.nip.io",
	"http://127.0.0.1.nip.io:8080/",
	"http://127.1/",
	"http://2130706433/",
	"http://0x7f.0.0.1/",
	"http://[::1]/",
	"javascript:alert(1)",
	"JavaScript://localhost/%0Aalert(1)",
	"data:text/html,<script>alert(1)</script>",
	"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
	"vbscript:msgbox(1)",
	"file:///etc/passwd",
	"ftp://localhost/",
	"ws://localhost/",
	"https://loc\talhost/",
	"https://localhost\n.evil.example/",
	"https://evil.example\t@localhost/",
	"\thttps://evil.example",
	" https://localhost/",
	"https://localhost/ ",
	"https://localhost/\x00",
	"https://%6c%6f%63%61%6c%68%6f%73%74/",
	"https://evil.example%2f@localhost/",
	"https://localhost%2eevil.example/",
	"https://localhost%00.evil.example/",
	"https://%E2%84%93ocalhost/",        // ℓocalhost, percent-encoded
	"https://ｌｏｃａｌｈｏｓｔ/",                // full-width: browsers map it to localhost, but it is not plain ASCII
	"https://locаlhost/",                // Cyrillic а
	"https://localhost。evil.example/",   // ideographic full stop: browsers read a dot
	"https://xn--locahost-c2a.example/", // a punycode lookalike not on the list
	"https://localhost:0/",
	"https://localhost:65536/",
	"https://localhost:99999999999/",
	"https://localhost:-1/",
	"https://localhost:+443/",
	"https://localhost:0443/",
	"https://shop.example/",         // only port 8443 is allowed
	"https://shop.example:443/",     // likewise
	"http://shop.example:8080/",     // likewise
	"https://localhost:8080\u2028/", // a line separator
	"https://localhost/\ufeff",
}

// allowedReturns are return URLs that are on the allow-list.
var allowedReturns = []string{
	"",
	"https://localhost",
	"https://localhost/shop/done?order=1#top",
	"http://localhost:8080/",
	"HTTPS://LOCALHOST",
	"HTTPS://LOCALHOST:8443/A",
	"http://127.0.0.1:3000/done",
	"https://shop.example:8443/done",
	"HTTPS://Shop.Example:8443/",
	"https://localhost/?next=https://evil.example", // the path and query are the shop's business
	"https://localhost/%2F%2Fevil.example",
}

func TestCheckReturnURL(t *testing.T) {
	hosts, err := parseReturnHosts([]string{"localhost", " 127.0.0.1 ", "", "Shop.Example:8443"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{returnHosts: hosts}
	for _, raw := range openRedirects {
		err := s.checkReturnURL(raw)
		if paygate.ErrorCode(err) != paygate.EINVALID {
			t.Errorf("checkReturnURL(%q) = %v, want an invalid error", raw, err)
		}
	}
	for _, raw := range allowedReturns {
		if err := s.checkReturnURL(raw); err != nil {
			t.Errorf("checkReturnURL(%q) = %v, want nil", raw, err)
		}
	}
}

func TestParseReturnHosts(t *testing.T) {
	for _, entry := range []string{"https://shop.example", "shop.example/", "shop example", "shop.example:0", "shop.example:70000",
		"lojа.example", "[::1", "shop.example:port", "*.shop.example"} {
		if h, err := parseReturnHosts([]string{entry}); err == nil {
			t.Errorf("parseReturnHosts(%q) = %v, want an error", entry, h)
		}
	}
	h, err := parseReturnHosts([]string{"[::1]", "[::1]:8080", "xn--loja-3qa.example"})
	if err != nil || len(h) != 3 || h[0] != (returnHost{"::1", ""}) || h[1] != (returnHost{"::1", "8080"}) {
		t.Errorf("parseReturnHosts = %v, %v", h, err)
	}
}
