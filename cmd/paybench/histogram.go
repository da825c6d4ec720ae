package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram's layout, as HdrHistogram's: durations in microseconds;
// below 2·subBuckets each value has its own bucket, above it every power of
// two is split into subBuckets buckets, so a bucket is at most 1/64 (1.6%)
// of its values wide. The largest value kept is 2^maxBits µs (19 hours);
// longer ones are counted in the last bucket.
const (
	subBits    = 6
	subBuckets = 1 << subBits
	maxBits    = 36
	numBuckets = (maxBits-subBits)*subBuckets + subBuckets
)

// histogram counts durations in fixed logarithmic buckets: its memory does
// not grow with the number of samples, so a soak of hours costs what a run
// of seconds does. Its methods are safe for concurrent use.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sumUS  atomic.Uint64
	maxUS  atomic.Uint64
}

// bucketOf returns the bucket of a value in microseconds.
func bucketOf(us uint64) int {
	if us < 2*subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - subBits - 1
	i := shift*subBuckets + int(us>>shift)
	if i >= numBuckets {
		return numBuckets - 1
	}
	return i
}

// bucketRange returns the smallest value of bucket i and the bucket's
// width, in microseconds.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*subBuckets {
		return uint64(i), 1
	}
	shift := i/subBuckets - 1
	return uint64(i%subBuckets+subBuckets) << shift, 1 << shift
}

// record adds one duration.
func (h *histogram) record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	h.sumUS.Add(us)
	for {
		m := h.maxUS.Load()
		if us <= m || h.maxUS.CompareAndSwap(m, us) {
			return
		}
	}
}

// snapshot is a histogram's counts at one moment, for the report.
type snapshot struct {
	counts []uint64
	n      uint64
	sumUS  uint64
	maxUS  uint64
}

func (h *histogram) snapshot() snapshot {
	s := snapshot{counts: make([]uint64, numBuckets), n: h.n.Load(), sumUS: h.sumUS.Load(), maxUS: h.maxUS.Load()}
	for i := range h.counts {
		s.counts[i] = h.counts[i].Load()
	}
	return s
}

// add adds o's counts to s.
func (s *snapshot) add(o snapshot) {
	if s.counts == nil {
		s.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		s.counts[i] += c
	}
	s.n += o.n
	s.sumUS += o.sumUS
	s.maxUS = max(s.maxUS, o.maxUS)
}

// quantile returns the duration below which a fraction q of the samples
// lie: the middle of the bucket of the sample of rank ⌈q·n⌉, never more
// than the largest sample. It is 0 without samples.
func (s snapshot) quantile(q float64) time.Duration {
	if s.n == 0 {
		return 0
	}
	rank := uint64(q*float64(s.n) + 0.999999)
	rank = min(max(rank, 1), s.n)
	var seen uint64
	for i, c := range s.counts {
		if seen += c; seen >= rank {
			lo, w := bucketRange(i)
			return time.Duration(min(lo+w/2, s.maxUS)) * time.Microsecond
		}
	}
	return time.Duration(s.maxUS) * time.Microsecond
}

// mean returns the average sample.
func (s snapshot) mean() time.Duration {
	if s.n == 0 {
		return 0
	}
	return time.Duration(s.sumUS/s.n) * time.Microsecond
}

func (s snapshot) max() time.Duration { return time.Duration(s.maxUS) * time.Microsecond }
