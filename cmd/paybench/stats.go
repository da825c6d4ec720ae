package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// step is one timed step of an order's flow.
type step int

const (
	stepCreate  step = iota // POST /v1/payment-orders
	stepAttempt             // POST /v1/payment-orders/{P}/attempts
	stepApprove             // the buyer's approval at the simulated provider
	stepReturn              // GET of paygate's return page the provider redirects to
	stepSettle              // approval answered → the order is seen paid (spans the return page, if any)
	stepDeliver             // POST /v1/sales-orders/{K}/deliver
	stepConfirm             // POST /v1/sales-orders/{K}/confirm
	stepOrder               // the whole order, create to the last confirm
	numSteps
)

func (s step) String() string {
	switch s {
	case stepCreate:
		return "create"
	case stepAttempt:
		return "attempt"
	case stepApprove:
		return "approve"
	case stepReturn:
		return "return page"
	case stepSettle:
		return "settle wait"
	case stepDeliver:
		return "deliver"
	case stepConfirm:
		return "confirm"
	case stepOrder:
		return "whole order"
	}
	return "?"
}

// counters are one step's counts for one method.
type counters struct {
	hist    histogram // successful steps
	errors  atomic.Int64
	retries atomic.Int64
}

// maxErrors bounds the error messages a run keeps for its report.
const maxErrors = 20

// stats is everything a run measures. Its methods are safe for concurrent
// use: workers share it.
type stats struct {
	byMethod [][numSteps]counters // by index into config.methods

	started   atomic.Int64 // orders begun
	completed atomic.Int64 // orders whose every sales order is completed
	failed    atomic.Int64 // orders abandoned after an error
	polls     atomic.Int64 // GETs while waiting for settlement

	mu     sync.Mutex
	errs   []string // the first maxErrors messages
	nErrs  int64
	errsBy map[string]int64 // by step
}

func newStats(methods int) *stats {
	return &stats{byMethod: make([][numSteps]counters, methods), errsBy: map[string]int64{}}
}

// observe records a successful step of duration d and the retries it took.
func (s *stats) observe(method int, st step, d time.Duration, retries int) {
	c := &s.byMethod[method][st]
	c.hist.record(d)
	if retries > 0 {
		c.retries.Add(int64(retries))
	}
}

// fail records a step that failed after retries, with its error.
func (s *stats) fail(method int, st step, retries int, err error) {
	c := &s.byMethod[method][st]
	c.errors.Add(1)
	c.retries.Add(int64(retries))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nErrs++
	s.errsBy[st.String()]++
	if len(s.errs) < maxErrors {
		s.errs = append(s.errs, st.String()+": "+err.Error())
	}
}

// errors returns the number of failed steps and the first messages.
func (s *stats) errors() (int64, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nErrs, append([]string(nil), s.errs...)
}

// stepTotals is one step's figures over some methods.
type stepTotals struct {
	hist    snapshot
	errors  int64
	retries int64
}

// totals sums a step over the methods whose index keep accepts.
func (s *stats) totals(st step, keep func(method int) bool) stepTotals {
	var t stepTotals
	for m := range s.byMethod {
		if !keep(m) {
			continue
		}
		c := &s.byMethod[m][st]
		t.hist.add(c.hist.snapshot())
		t.errors += c.errors.Load()
		t.retries += c.retries.Load()
	}
	return t
}
