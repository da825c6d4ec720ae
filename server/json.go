package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/paygate/paygate"
)

// codeMethodNotAllowed is the error code of 405 responses, which no paygate
// error code describes because no operation can return it.
const codeMethodNotAllowed = "method_not_allowed"

// codeUnsupportedMediaType is the error code of 415 responses: a JSON body
// sent without Content-Type: application/json (DecodeJSON).
const codeUnsupportedMediaType = "unsupported_media_type"

// codeHeadersTooLarge is the error code of 431 responses: request headers
// over the server's limit (Config.MaxHeaderBytes).
const codeHeadersTooLarge = "headers_too_large"

// errorStatus is the one table that maps a paygate error code to an HTTP
// status, with the message shown when an error carries none. Unknown codes
// are internal errors.
//
// EINSUFFICIENT is 422 Unprocessable Entity: the request is well formed but
// the balance cannot cover it. 409 Conflict is kept for state conflicts and
// reused idempotency keys (ECONFLICT), so that clients can tell them apart.
// ELIMIT is 409 too: the thing's state (say, a payment order's attempts)
// refuses the request, and unlike ERATELIMITED's 429 waiting a few seconds
// does not help.
func errorStatus(code string) (status int, message string) {
	switch code {
	case paygate.EINVALID:
		return http.StatusBadRequest, "invalid request"
	case paygate.EUNAUTHORIZED:
		return http.StatusUnauthorized, "unauthorized"
	case paygate.EFORBIDDEN:
		return http.StatusForbidden, "forbidden"
	case paygate.ENOTFOUND:
		return http.StatusNotFound, "not found"
	case paygate.ECONFLICT:
		return http.StatusConflict, "conflict"
	case paygate.ETOOLARGE:
		return http.StatusRequestEntityTooLarge, "request body too large"
	case paygate.ELIMIT:
		return http.StatusConflict, "limit reached"
	case paygate.ERATELIMITED:
		return http.StatusTooManyRequests, "too many requests"
	case paygate.EINSUFFICIENT:
		return http.StatusUnprocessableEntity, "insufficient balance"
	case paygate.EUNAVAILABLE:
		return http.StatusServiceUnavailable, "service unavailable"
	case codeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType, "unsupported media type"
	default:
		return http.StatusInternalServerError, "internal error"
	}
}

// ErrorStatus returns the HTTP status that WriteError sends for err, for
// handlers that answer with something other than JSON (the checkout's HTML
// pages).
func ErrorStatus(err error) int {
	status, _ := errorStatus(paygate.ErrorCode(err))
	return status
}

// errorResponse is the body of every error response:
// {"error":{"code":"…","message":"…"}}.
type errorResponse struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteJSON writes v as a JSON response with the given status. It sets
// Content-Type, Content-Length and X-Content-Type-Options, so it must be
// called before anything else is written. If v cannot be encoded, which is a
// programming error, it writes a 500 internal error instead. Errors writing
// to the client are ignored: the client has gone.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorResponse{errorDetail{paygate.EINTERNAL, "internal error"}})
	}
	b = append(b, '\n')

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteError writes err as a JSON error response. The status comes from
// err's paygate error code (see the table below); the body is
// {"error":{"code":"…","message":"…"}} with the caller-safe message of
// paygate.ErrorMessage, so internal errors render as "internal error". Errors
// that are not *paygate.Error, and unknown codes, are internal errors.
//
//	invalid       400 Bad Request
//	unauthorized  401 Unauthorized
//	forbidden     403 Forbidden
//	not_found     404 Not Found
//	conflict      409 Conflict
//	too_large     413 Content Too Large
//	limit         409 Conflict
//	rate_limited  429 Too Many Requests
//	insufficient  422 Unprocessable Entity
//	unavailable   503 Service Unavailable
//	internal      500 Internal Server Error
//
// For 5xx statuses WriteError logs err, with its cause, at Error level on
// the request's logger; handlers should therefore not log it again.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		err = errors.New("server: WriteError called with a nil error")
	}
	code := paygate.ErrorCode(err)
	status, fallback := errorStatus(code)

	respCode, msg := code, paygate.ErrorMessage(err)
	var e *paygate.Error
	switch {
	case status == http.StatusInternalServerError:
		respCode, msg = paygate.EINTERNAL, fallback
	case errors.As(err, &e) && e.Message == "":
		msg = fallback
	}

	if status >= http.StatusInternalServerError {
		l := Logger(r.Context())
		l.Error().Err(err).Str(FieldErrorCode, code).Int(FieldStatus, status).Msg("request failed")
	}
	writeErrorBody(w, status, respCode, msg)
}

// writeErrorBody writes an error response without logging.
func writeErrorBody(w http.ResponseWriter, status int, code, message string) {
	WriteJSON(w, status, errorResponse{errorDetail{Code: code, Message: message}})
}

// DecodeJSON decodes the request body, which must hold exactly one JSON value
// (surrounding whitespace aside), into dst. The request must say
// Content-Type: application/json (a charset parameter, if any, utf-8).
// Unknown object fields are rejected, and so is an object that names a key
// twice (or two keys that differ only in case, which encoding/json would
// both take for one field): no last-one-wins.
//
// Its errors are *paygate.Error ready for WriteError: EINVALID with a message
// such as `invalid JSON: unknown field "foo"` for an empty, malformed or
// mistyped body, unknown fields, duplicate keys or data after the value;
// ETOOLARGE for a body over the server's limit; and, before the body is
// read, a 415 unsupported_media_type error for another Content-Type. An
// error returned by a field's UnmarshalJSON method is returned as is if it
// is a *paygate.Error, and otherwise becomes EINVALID with the cause kept
// out of the message.
func DecodeJSON(r *http.Request, dst any) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.Body == nil {
		return paygate.Errorf(paygate.EINVALID, "invalid JSON: empty request body")
	}
	body := &errReader{r: r.Body}
	raw, err := io.ReadAll(body)
	if err != nil {
		return decodeError(err, body.err)
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	if wantsObject(dst) {
		// null, an array, a string or a number decode into a struct without
		// an error (null) or with a confusing one: say what is wanted.
		if c, err := firstByte(br); err == nil && c != '{' {
			return paygate.Errorf(paygate.EINVALID, "invalid JSON: the body must be a JSON object ({…})")
		}
	}

	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return paygate.Errorf(paygate.EINVALID, "invalid JSON: empty request body")
		}
		return decodeError(err, nil)
	}
	// Only whitespace may follow the value.
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return paygate.Errorf(paygate.EINVALID, "invalid JSON: unexpected data after the top-level value")
	}
	if err := duplicateKey(raw); err != nil {
		return err
	}
	return checkText(reflect.ValueOf(dst), "")
}

// checkContentType accepts application/json, with at most a charset
// parameter of utf-8 (JSON is UTF-8, RFC 8259); anything else is a 415
// unsupported_media_type error.
func checkContentType(v string) error {
	unsupported := &paygate.Error{Code: codeUnsupportedMediaType,
		Message: "Content-Type must be application/json (the body is JSON)"}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "application/json" {
		return unsupported
	}
	for k, p := range params {
		if k != "charset" || !strings.EqualFold(p, "utf-8") {
			return unsupported
		}
	}
	return nil
}

// duplicateKey returns an EINVALID error naming the first key that an
// object of the JSON text raw (valid JSON) names twice, or two keys of an
// object that are equal but for case, by its JSON path (items[0].amount);
// nil if there is none.
func duplicateKey(raw []byte) error {
	type frame struct {
		object  bool
		keys    map[string]string // folded key → key as sent
		wantKey bool              // an object's next token is a key
		path    string            // of the value
		index   int               // an array's next index
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	next := "" // the path of the next value
	valueDone := func() {
		if n := len(stack); n > 0 {
			if top := stack[n-1]; top.object {
				top.wantKey = true
			} else {
				top.index++
			}
		}
	}
	childPath := func() string {
		if n := len(stack); n > 0 && !stack[n-1].object {
			return fmt.Sprintf("%s[%d]", stack[n-1].path, stack[n-1].index)
		}
		return next
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF, or bad JSON that the decoding reported
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			top := stack[n-1]
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			key, _ := tok.(string)
			name := key
			if top.path != "" {
				name = top.path + "." + key
			}
			if prev, ok := top.keys[strings.ToLower(key)]; ok {
				if prev == key {
					return paygate.Errorf(paygate.EINVALID, "invalid JSON: duplicate key %q", clip(name))
				}
				return paygate.Errorf(paygate.EINVALID, "invalid JSON: duplicate key %q (also given as %q)", clip(name), clip(prev))
			}
			top.keys[strings.ToLower(key)] = key
			top.wantKey = false
			next = name
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]string{}, wantKey: true, path: childPath()})
		case json.Delim('['):
			stack = append(stack, &frame{path: childPath()})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// wantsObject reports whether dst (a pointer) decodes from a JSON object:
// a struct or a map.
func wantsObject(dst any) bool {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer {
		return false
	}
	k := t.Elem().Kind()
	return k == reflect.Struct || k == reflect.Map
}

// firstByte returns the first byte of br that is not JSON whitespace,
// without consuming it.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\n', '\r':
			br.ReadByte()
		default:
			return b[0], nil
		}
	}
}

// checkText refuses a decoded body whose strings hold a control character
// (paygate.CheckText), naming the field by its JSON path, such as
// items[0].description: PostgreSQL cannot store NUL, and the same body must
// get the same answer on both backends, before any handler sees it.
func checkText(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkText(v.Elem(), path)
	case reflect.String:
		name := path
		if name == "" {
			name = "the body"
		}
		return paygate.CheckText(clip(name), v.String())
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue // encoding/json fills exported and embedded fields only
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			sub := path // an embedded struct's fields are the outer object's
			switch {
			case name == "-":
				continue
			case name == "" && f.Anonymous:
			case name == "":
				name = f.Name
				fallthrough
			default:
				sub = name
				if path != "" {
					sub = path + "." + name
				}
			}
			if err := checkText(v.Field(i), sub); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // raw bytes (json.RawMessage), not text
		}
		for i := 0; i < v.Len(); i++ {
			if err := checkText(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			sub := fmt.Sprintf("%s[%q]", path, fmt.Sprint(iter.Key()))
			if err := checkText(iter.Key(), sub); err != nil {
				return err
			}
			if err := checkText(iter.Value(), sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeError turns an error of json.Decoder.Decode, and the read error behind
// it if any, into a *paygate.Error.
func decodeError(err, readErr error) error {
	var (
		tooLarge *http.MaxBytesError
		pgErr    *paygate.Error
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		invalid  *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(readErr, &tooLarge):
		return &paygate.Error{
			Code:    paygate.ETOOLARGE,
			Message: fmt.Sprintf("request body larger than %d bytes", tooLarge.Limit),
			Err:     readErr,
		}
	case readErr != nil:
		return &paygate.Error{Code: paygate.EINVALID, Message: "could not read request body", Err: readErr}
	case errors.As(err, &pgErr):
		return err
	case errors.As(err, &syntax):
		return &paygate.Error{
			Code:    paygate.EINVALID,
			Message: fmt.Sprintf("invalid JSON: %s (offset %d)", syntax, syntax.Offset),
			Err:     err,
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &paygate.Error{Code: paygate.EINVALID, Message: "invalid JSON: unexpected end of input", Err: err}
	case errors.As(err, &typ):
		msg := fmt.Sprintf("invalid JSON: wrong type: got %s", clip(typ.Value))
		if typ.Field != "" {
			msg = fmt.Sprintf("invalid JSON: wrong type for field %q: got %s", clip(typ.Field), clip(typ.Value))
		}
		return &paygate.Error{Code: paygate.EINVALID, Message: msg, Err: err}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no error type for this; its message is stable:
		// the field's name, quoted.
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if unquoted, uerr := strconv.Unquote(name); uerr == nil {
			name = unquoted
		}
		return &paygate.Error{
			Code:    paygate.EINVALID,
			Message: fmt.Sprintf("invalid JSON: unknown field %q", clip(name)),
			Err:     err,
		}
	case errors.As(err, &invalid):
		return &paygate.Error{Code: paygate.EINTERNAL, Err: fmt.Errorf("server: decode JSON: %w", err)}
	default:
		return &paygate.Error{Code: paygate.EINVALID, Message: "invalid JSON: invalid value", Err: err}
	}
}

// maxQuoted bounds how much of the request an error message quotes (a
// field's name, a value), so that a hostile body cannot make a long
// message.
const maxQuoted = 40

// clip shortens s to at most maxQuoted bytes, on a rune boundary, marking a
// cut with "…" (paygate.Clip).
func clip(s string) string { return paygate.Clip(s, maxQuoted) }

// errReader remembers the first error, other than io.EOF, of the reader it
// wraps, so that DecodeJSON can tell a failed read (or an oversized body)
// from bad JSON.
type errReader struct {
	r   io.Reader
	err error
}

func (b *errReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}
