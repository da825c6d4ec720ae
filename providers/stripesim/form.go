package stripesim

import (
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Limits of the form parser. Stripe's own requests stay far below them; they
// bound the work a hostile body can cause.
const (
	maxFormPairs = 1000 // key=value pairs in one request
	maxFormDepth = 8    // bracketed segments in one key
	maxKeyLen    = 512  // bytes of one decoded key
)

// errForm is the cause of every form parsing error.
var errForm = errors.New("stripesim: malformed form")

// formError is a parsing error that names the offending key, as Stripe's
// invalid_request_error names its param.
type formError struct {
	Key string
	Msg string
}

func (e *formError) Error() string {
	if e.Key == "" {
		return "stripesim: " + e.Msg
	}
	return "stripesim: " + e.Msg + ": " + strconv.Quote(e.Key)
}

func (e *formError) Unwrap() error { return errForm }

// form is one node of a decoded form: either a leaf holding a value or a
// hash of named children. Arrays are hashes whose keys are indexes: both
// a[]=x (append) and a[0]=x (indexed, as stripe-go sends them) decode to
// one.
type form struct {
	leaf  bool
	value string
	kids  map[string]*form
	order []string // kid names in insertion order
}

// parseForm decodes an application/x-www-form-urlencoded body with
// Stripe's nested keys (a[b][c]=v, a[]=v, a[0]=v). A key that is both a
// value and a hash (a=1&a[b]=2), a malformed key, or a body over the limits
// is an error wrapping errForm. A repeated key keeps its last value.
func parseForm(raw string) (*form, error) {
	root := &form{}
	if raw == "" {
		return root, nil
	}
	pairs := strings.Split(raw, "&")
	if len(pairs) > maxFormPairs {
		return nil, &formError{Msg: "too many parameters"}
	}
	for _, pair := range pairs {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, &formError{Key: k, Msg: "invalid percent-encoding in key"}
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, &formError{Key: key, Msg: "invalid percent-encoding in value"}
		}
		path, err := splitKey(key)
		if err != nil {
			return nil, err
		}
		if err := root.insert(key, path, val); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// splitKey splits a[b][c] into [a b c]; a[] gives [a ""].
func splitKey(key string) ([]string, error) {
	if len(key) > maxKeyLen {
		return nil, &formError{Key: key[:32] + "…", Msg: "key too long"}
	}
	name, rest, found := strings.Cut(key, "[")
	if name == "" {
		return nil, &formError{Key: key, Msg: "invalid key"}
	}
	path := []string{name}
	if !found {
		return path, nil
	}
	rest = "[" + rest
	for rest != "" {
		if rest[0] != '[' {
			return nil, &formError{Key: key, Msg: "invalid key"}
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, &formError{Key: key, Msg: "invalid key"}
		}
		path = append(path, rest[1:end])
		rest = rest[end+1:]
		if len(path) > maxFormDepth+1 {
			return nil, &formError{Key: key, Msg: "key nested too deeply"}
		}
	}
	return path, nil
}

func (f *form) insert(key string, path []string, val string) error {
	n := f
	for _, seg := range path {
		if n.leaf {
			return &formError{Key: key, Msg: "parameter is both a value and a hash"}
		}
		if n.kids == nil {
			n.kids = make(map[string]*form)
		}
		if seg == "" { // a[]: the next free index
			for i := len(n.kids); ; i++ {
				if seg = strconv.Itoa(i); n.kids[seg] == nil {
					break
				}
			}
		}
		kid := n.kids[seg]
		if kid == nil {
			kid = &form{}
			n.kids[seg] = kid
			n.order = append(n.order, seg)
		}
		n = kid
	}
	if len(n.kids) > 0 {
		return &formError{Key: key, Msg: "parameter is both a value and a hash"}
	}
	n.leaf, n.value = true, val
	return nil
}

// get returns the node at path, or nil.
func (f *form) get(path ...string) *form {
	n := f
	for _, seg := range path {
		if n == nil || n.leaf {
			return nil
		}
		n = n.kids[seg]
	}
	return n
}

// has reports whether anything was sent at path.
func (f *form) has(path ...string) bool { return f.get(path...) != nil }

// str returns the value at path; ok is false when there is none or it is a
// hash.
func (f *form) str(path ...string) (string, bool) {
	n := f.get(path...)
	if n == nil || !n.leaf {
		return "", false
	}
	return n.value, true
}

// keys returns the names of the node's children in the order they were
// first sent.
func (f *form) keys() []string {
	if f == nil || f.leaf {
		return nil
	}
	return append([]string(nil), f.order...)
}

// list returns the values of an array at path, ordered by index. A value
// that is not an array of values gives ok false.
func (f *form) list(path ...string) (vals []string, ok bool) {
	n := f.get(path...)
	if n == nil {
		return nil, true
	}
	if n.leaf {
		return nil, false
	}
	idx := make([]int, 0, len(n.kids))
	byIdx := make(map[int]string, len(n.kids))
	for k, kid := range n.kids {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || !kid.leaf {
			return nil, false
		}
		if _, dup := byIdx[i]; dup { // "1" and "01"
			return nil, false
		}
		idx = append(idx, i)
		byIdx[i] = kid.value
	}
	sort.Ints(idx)
	for _, i := range idx {
		vals = append(vals, byIdx[i])
	}
	return vals, true
}

// strMap returns a hash of values at path (metadata). ok is false when it is
// not a hash of values. An empty value (metadata=) is an empty map.
func (f *form) strMap(path ...string) (m map[string]string, ok bool) {
	n := f.get(path...)
	if n == nil {
		return nil, true
	}
	if n.leaf {
		return map[string]string{}, n.value == ""
	}
	m = make(map[string]string, len(n.kids))
	for k, kid := range n.kids {
		if !kid.leaf {
			return nil, false
		}
		m[k] = kid.value
	}
	return m, true
}

// canonical returns the form as sorted key=value pairs, encoded the way
// stripe-go encodes them. Two requests with the same parameters in any order
// have the same canonical form; it is the fingerprint of idempotent
// requests.
func (f *form) canonical() string {
	var pairs []string
	var walk func(prefix string, n *form)
	walk = func(prefix string, n *form) {
		if n.leaf {
			pairs = append(pairs, encodeKey(prefix)+"="+url.QueryEscape(n.value))
			return
		}
		for k, kid := range n.kids {
			key := k
			if prefix != "" {
				key = prefix + "[" + k + "]"
			}
			walk(key, kid)
		}
	}
	walk("", f)
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// encodeKey escapes a key but keeps its brackets readable, as stripe-go
// does.
func encodeKey(k string) string {
	k = url.QueryEscape(k)
	k = strings.ReplaceAll(k, "%5B", "[")
	return strings.ReplaceAll(k, "%5D", "]")
}
