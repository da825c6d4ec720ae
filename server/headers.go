package server

import (
	"net/http"
	"net/url"
	"strings"
)

// The security headers every response carries. securityHeaders sets them
// before the handler runs, so they are on JSON answers, errors (404, 405,
// 429, 500, and the panic recovery's), the router's own redirects, /metrics,
// /openapi.json and every page. A handler that serves HTML replaces
// Content-Security-Policy with its page's own, which must keep
// frame-ancestors 'none' and allow no inline script; it may replace
// Referrer-Policy (same-origin at most) and Cache-Control (a public
// document such as /openapi.json).
const (
	// DefaultCSP is the Content-Security-Policy of responses that are not
	// pages: nothing may load, nothing may frame them, no form may post
	// from them, and a document they are rendered as has no base URL.
	DefaultCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

	// DefaultReferrerPolicy sends no Referer from our pages: checkout links
	// carry the order's token, which must not reach a gateway or an image
	// host.
	DefaultReferrerPolicy = "no-referrer"

	// DefaultCacheControl keeps responses out of every cache: the API's
	// answers and the pages carry tokens and buyers' personal data.
	DefaultCacheControl = "no-store"

	// HSTS is the Strict-Transport-Security of responses served behind
	// TLS: two years, subdomains included.
	HSTS = "max-age=63072000; includeSubDomains"
)

// securityHeaders wraps next so that every response carries the default
// security headers, and Strict-Transport-Security when the request came
// over TLS or the service's public URL is https (a TLS-terminating proxy in
// front). It trusts no X-Forwarded-Proto: any client could send one.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", DefaultCSP)
		h.Set("Referrer-Policy", DefaultReferrerPolicy)
		h.Set("Cache-Control", DefaultCacheControl)
		if s.https || r.TLS != nil {
			h.Set("Strict-Transport-Security", HSTS)
		}
		next.ServeHTTP(w, r)
	})
}

// isHTTPS reports whether a public URL is an https URL.
func isHTTPS(publicURL string) bool {
	u, err := url.Parse(strings.TrimSpace(publicURL))
	return err == nil && strings.EqualFold(u.Scheme, "https") && u.Host != ""
}
