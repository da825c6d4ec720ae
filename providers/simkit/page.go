package simkit

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/paygate/paygate"
)

// PagePolicy returns the Content-Security-Policy of a simulator's hosted
// pages, whose only style is the inline <style> blocks of the template file
// layout in fsys: those are allowed by their hashes, and no script at all.
// imgSrc are image sources besides the simulator's own origin, such as
// "data:" for a QR code inlined as a data URL.
//
// The policy has no form-action: the pages' forms answer with a redirect to
// the merchant's return URL, which a real provider's page sends anywhere the
// merchant said, and browsers check form-action against that redirect.
//
// The template's <style> text must be static: html/template passes static
// text through unchanged, so the hash of the file's text is the hash of the
// page's style. It returns an error if layout cannot be read or has no style.
func PagePolicy(fsys fs.FS, layout string, imgSrc ...string) (string, error) {
	b, err := fs.ReadFile(fsys, layout)
	if err != nil {
		return "", fmt.Errorf("simkit: page policy: %w", err)
	}
	var hashes []string
	for rest := string(b); ; {
		_, after, ok := strings.Cut(rest, "<style>")
		if !ok {
			break
		}
		css, tail, ok := strings.Cut(after, "</style>")
		if !ok {
			return "", fmt.Errorf("simkit: page policy: %s has an unclosed <style>", layout)
		}
		if strings.Contains(css, "{{") {
			return "", fmt.Errorf("simkit: page policy: the style of %s is not static", layout)
		}
		sum := sha256.Sum256([]byte(css))
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		rest = tail
	}
	if len(hashes) == 0 {
		return "", fmt.Errorf("simkit: page policy: %s has no <style>", layout)
	}
	img := append([]string{"'self'"}, imgSrc...)
	return "default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; " +
		"img-src " + strings.Join(img, " ") + "; style-src " + strings.Join(hashes, " "), nil
}

// SetPageHeaders sets the security headers of a hosted page with the
// policy of PagePolicy: no framing, no sniffing, no Referer (the page's
// links carry payment ids), no caching.
func SetPageHeaders(h http.Header, policy string) {
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// CrossSite reports why a form POST to a hosted page must be refused as
// sent by another site, or "" if it may go on. A browser names where a
// request comes from in Sec-Fetch-Site (only "same-origin", and "none" for
// what the user typed, are accepted) and Origin (it must be baseURL's
// origin; "null" is accepted, as pages that send no Referer post with it).
// Clients that are not browsers send neither and are let through: the
// pages take no cookie, so a forged request could do nothing that a direct
// one cannot.
func CrossSite(r *http.Request, baseURL string) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "Sec-Fetch-Site " + site
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return ""
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || !strings.EqualFold(o, u.Scheme+"://"+u.Host) {
		return "Origin " + o
	}
	return ""
}

// Won formats whole won as the simulators' hosted pages show them:
// ₩15,000, and -₩15,000 below zero.
func Won(won int64) string {
	g := paygate.New(won, paygate.KRW).Grouped()
	if rest, neg := strings.CutPrefix(g, "-"); neg {
		return "-₩" + rest
	}
	return "₩" + g
}
