package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
)

// HeaderRequestID is the header that carries the request id in both
// directions.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen is the longest incoming request id that is kept.
const maxRequestIDLen = 64

// requestInfo is what the middleware knows about one request. routeTag fills
// in route once the router has matched; the access log reads it afterwards on
// the same goroutine.
type requestInfo struct {
	id    string
	route string
}

// infoKey is the context key of the *requestInfo.
type infoKey struct{}

// Logger returns the request's logger, which carries the request id and, once
// the router has matched, the route. It returns a disabled logger if ctx
// holds none, so it is always safe to use.
func Logger(ctx context.Context) zerolog.Logger {
	if l := zerolog.Ctx(ctx); l != zerolog.DefaultContextLogger {
		return *l
	}
	return zerolog.Nop()
}

// RequestID returns the request's id, as sent in the X-Request-Id response
// header, or "" if ctx is not a request's context.
func RequestID(ctx context.Context) string {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// middleware wraps next in what every request passes through, outermost
// first: request id and logger, body limit, access log, rate limits, panic
// recovery. A request over its rate limit is logged and counted, and never
// reaches the router. The
// body limit sits outside the access log's response recorder so that
// http.MaxBytesReader sees net/http's own ResponseWriter and can close the
// connection after an oversized body.
func (s *Server) middleware(next http.Handler) http.Handler {
	inner := recoverPanic(next)
	if s.limiter != nil {
		inner = s.limiter.middleware(inner)
	}
	return s.requestContext(s.limitBody(s.accessLog(s.refuseMalformed(inner))))
}

// refuseMalformed refuses a request whose request line and header lines
// together exceed the header limit with 431 headers_too_large, as JSON
// with the request id and security headers like every other answer; and a
// path that is not clean (//v1/…, /v1/../…) with the JSON 404 of a path
// that matches no route.
// net/http's own limit (http.Server.MaxHeaderBytes, which Serve sets to
// hardHeaderLimit) only stops what is far larger, with a plain-text 431 of
// its own.
func (s *Server) refuseMalformed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := headerSize(r); n > s.maxHeaderBytes {
			writeErrorBody(w, http.StatusRequestHeaderFieldsTooLarge, codeHeadersTooLarge,
				fmt.Sprintf("request headers of %d bytes are over the limit of %d", n, s.maxHeaderBytes))
			return
		}
		if !isCleanPath(r.URL.Path) {
			// No route has such a path, but a prefix mount would take it
			// and its own mux would redirect.
			writeErrorBody(w, http.StatusNotFound, paygate.ENOTFOUND, "not found")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isCleanPath reports whether p is an absolute path that path.Clean leaves
// as it is (a trailing slash aside): no empty, "." or ".." segment, even
// one sent encoded (%2e%2e).
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c == p
}

// headerSize is the size of r's request line and header lines as the
// client sent them (HTTP/1.1: "GET /path HTTP/1.1\r\n", then "Name:
// value\r\n" each, Host included, then "\r\n"), which is what
// net/http's MaxHeaderBytes counts.
func headerSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2 + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n
}

// requestContext picks the request id (a valid incoming X-Request-Id, or a
// new random one), echoes it in the response, and puts it and a logger
// carrying it in the request's context.
func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, id)

		l := s.log.With().Str(FieldRequestID, id).Logger()
		ctx := context.WithValue(r.Context(), infoKey{}, &requestInfo{id: id})
		next.ServeHTTP(w, r.WithContext(l.WithContext(ctx)))
	})
}

// validRequestID reports whether id is 1 to 64 characters of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error; it crashes instead.
	return hex.EncodeToString(b[:])
}

// limitBody caps the request body at the configured size.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// accessLog writes one Info line per request once it is handled, and records
// its duration in the request metrics. It logs the
// path without the query string, and never headers or bodies.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &responseRecorder{ResponseWriter: w}
		s.metrics.inFlight.Inc()
		defer func() {
			s.metrics.inFlight.Dec()
			status := rec.status
			if status == 0 {
				status = http.StatusOK // What net/http sends for an empty response.
			}
			elapsed := time.Since(start)
			s.metrics.observe(r.Method, matchedRoute(r.Context()), status, elapsed)
			l := outerLogger(r.Context())
			l.Info().
				Str(FieldMethod, r.Method).
				Str(FieldPath, r.URL.Path).
				Int(FieldStatus, status).
				Int64(FieldBytes, rec.bytes).
				Float64(FieldDurationMS, float64(elapsed)/float64(time.Millisecond)).
				Str(FieldRemoteAddr, r.RemoteAddr).
				Msg("request")
		}()
		next.ServeHTTP(rec, r)
	})
}

// outerLogger returns the request's logger for middleware that runs outside
// the router, adding the route that routeTag recorded, if any.
func outerLogger(ctx context.Context) zerolog.Logger {
	l := Logger(ctx)
	if route := matchedRoute(ctx); route != "" {
		l = l.With().Str(FieldRoute, route).Logger()
	}
	return l
}

// matchedRoute returns the path template routeTag recorded for the request,
// or "" if no route matched.
func matchedRoute(ctx context.Context) string {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info.route
	}
	return ""
}

// routeTag runs inside the router, for matched routes only. It records the
// route's path template for the access log and adds it to the request's
// logger.
func routeTag(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route := mux.CurrentRoute(r); route != nil {
			if tpl, err := route.GetPathTemplate(); err == nil {
				ctx := r.Context()
				if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
					info.route = tpl
				}
				l := Logger(ctx).With().Str(FieldRoute, tpl).Logger()
				r = r.WithContext(l.WithContext(ctx))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanic turns a handler's panic into a 500 internal error and logs the
// panic value and stack at Error level. If the response had already begun it
// cannot be replaced, so the connection is aborted instead, which the client
// sees as a failed rather than a truncated-but-successful response.
// http.ErrAbortHandler passes through untouched.
func recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { // Compared as net/http does.
				panic(v)
			}
			l := outerLogger(r.Context())
			l.Error().
				Str(FieldPanic, fmt.Sprint(v)).
				Str(FieldStack, string(debug.Stack())).
				Msg("panic in handler")
			if rec, ok := w.(*responseRecorder); ok && rec.status != 0 {
				panic(http.ErrAbortHandler)
			}
			writeErrorBody(w, http.StatusInternalServerError, paygate.EINTERNAL, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

// responseRecorder records the status and body size of a response for the
// access log. Unwrap lets http.ResponseController reach the underlying
// writer's optional methods.
type responseRecorder struct {
	http.ResponseWriter
	status int   // the final status, 0 until the header is written
	bytes  int64 // body bytes written
}

// WriteHeader records the first final status (informational 1xx statuses
// other than 101 are not final) and passes the call on.
func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes written; a Write before WriteHeader implies 200.
func (w *responseRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher for handlers that stream; a Flush before
// WriteHeader implies 200.
func (w *responseRecorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush() // Not every writer can flush; that is fine.
}

// Unwrap returns the underlying ResponseWriter.
func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
