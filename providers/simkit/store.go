package simkit

import (
	"iter"
	"time"
)

// Store is a map from string keys to values of type V that also keeps its
// keys in the order they were last put, each with the time it was put, so
// that the oldest can be forgotten in time proportional to how many are:
// see Trim. Its zero value is empty and ready to use. It is not safe for
// concurrent use: a simulator uses it under its own lock.
//
// Order is the order of the calls to Put, not of their times: Trim expects
// the times put not to decrease, as a clock's do.
type Store[V any] struct {
	items      map[string]*node[V]
	head, tail *node[V] // the oldest and the newest
}

// node is one key of a Store, in a doubly linked list from oldest to
// newest.
type node[V any] struct {
	prev, next *node[V]
	key        string
	at         time.Time
	val        V
}

// Len returns the number of keys.
func (s *Store[V]) Len() int { return len(s.items) }

// Get returns the value of key and when it was put.
func (s *Store[V]) Get(key string) (v V, at time.Time, ok bool) {
	n := s.items[key]
	if n == nil {
		return v, time.Time{}, false
	}
	return n.val, n.at, true
}

// Put sets the value of key, put at at, and makes key the newest.
func (s *Store[V]) Put(key string, v V, at time.Time) {
	n := s.items[key]
	if n == nil {
		if s.items == nil {
			s.items = make(map[string]*node[V])
		}
		n = &node[V]{key: key}
		s.items[key] = n
	} else {
		s.unlink(n)
	}
	n.val, n.at = v, at
	n.prev = s.tail
	if s.tail != nil {
		s.tail.next = n
	} else {
		s.head = n
	}
	s.tail = n
}

// Delete removes key and reports whether it was there.
func (s *Store[V]) Delete(key string) bool {
	n := s.items[key]
	if n == nil {
		return false
	}
	s.unlink(n)
	delete(s.items, key)
	return true
}

// Trim removes keys from the oldest while there are more than maxLen of
// them (a negative maxLen is no bound) or the oldest was put at or before
// cutoff (the zero cutoff is no bound), calling evict, if not nil, with
// each key removed and its value, oldest first (evict must not change the
// Store). It returns how many it removed. It looks at no key but those it
// removes and the one it stops at, so keeping a Store trimmed costs O(1)
// per key put, amortised.
func (s *Store[V]) Trim(maxLen int, cutoff time.Time, evict func(key string, v V)) int {
	removed := 0
	for n := s.head; n != nil; n = s.head {
		if !(maxLen >= 0 && len(s.items) > maxLen) && (cutoff.IsZero() || n.at.After(cutoff)) {
			break
		}
		s.unlink(n)
		delete(s.items, n.key)
		removed++
		if evict != nil {
			evict(n.key, n.val)
		}
	}
	return removed
}

// All yields the keys and their values from the oldest to the newest. The
// Store must not be changed while All runs.
func (s *Store[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		for n := s.head; n != nil; n = n.next {
			if !yield(n.key, n.val) {
				return
			}
		}
	}
}

// unlink takes n out of the list, leaving it in the map.
func (s *Store[V]) unlink(n *node[V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		s.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		s.tail = n.prev
	}
	n.prev, n.next = nil, nil
}
