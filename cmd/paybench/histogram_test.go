package main

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	prevHi := uint64(0)
	for i := range numBuckets {
		lo, w := bucketRange(i)
		if lo != prevHi {
			t.Fatalf("bucket %d starts at %d, want %d (the end of the one before)", i, lo, prevHi)
		}
		if w > 1 && float64(w)/float64(lo) > 1.0/subBuckets+1e-9 {
			t.Fatalf("bucket %d [%d, +%d) is wider than 1/%d of its values", i, lo, w, subBuckets)
		}
		for _, v := range []uint64{lo, lo + w - 1} {
			if got := bucketOf(v); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, i)
			}
		}
		prevHi = lo + w
	}
	if got := bucketOf(1 << 50); got != numBuckets-1 {
		t.Errorf("bucketOf(2^50) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

func TestQuantilesWithinBucketPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	var exact []time.Duration
	for range 20000 {
		// Log-normal-ish: most around a few ms, a tail to seconds.
		d := time.Duration(float64(time.Millisecond) * (1 + rng.ExpFloat64()*rng.ExpFloat64()*5))
		h.record(d)
		exact = append(exact, d)
	}
	sort.Slice(exact, func(i, j int) bool { return exact[i] < exact[j] })
	s := h.snapshot()
	if s.n != uint64(len(exact)) {
		t.Fatalf("n = %d, want %d", s.n, len(exact))
	}
	for _, q := range []float64{.5, .95, .99, .999, 1} {
		want := exact[min(int(q*float64(len(exact))+0.999999)-1, len(exact)-1)]
		got := s.quantile(q)
		if diff := float64(got-want) / float64(want); diff > 1.0/subBuckets || diff < -1.0/subBuckets {
			t.Errorf("quantile(%v) = %v, want %v within %.1f%%", q, got, want, 100.0/subBuckets)
		}
	}
	if s.max() != exact[len(exact)-1].Truncate(time.Microsecond) {
		t.Errorf("max = %v, want %v", s.max(), exact[len(exact)-1])
	}
}

func TestSnapshotAdd(t *testing.T) {
	var a, b histogram
	a.record(time.Millisecond)
	b.record(3 * time.Millisecond)
	b.record(5 * time.Millisecond)
	var s snapshot
	s.add(a.snapshot())
	s.add(b.snapshot())
	if s.n != 3 || s.max() != 5*time.Millisecond || s.mean() != 3*time.Millisecond || s.quantile(.5) < 2900*time.Microsecond || s.quantile(.5) > 3100*time.Microsecond {
		t.Errorf("merged = n %d, max %v, mean %v, p50 %v; want 3, 5ms, 3ms, 3ms", s.n, s.max(), s.mean(), s.quantile(.5))
	}
	var empty snapshot
	if empty.quantile(.99) != 0 || empty.mean() != 0 {
		t.Errorf("empty snapshot: p99 %v, mean %v; want 0", empty.quantile(.99), empty.mean())
	}
}
