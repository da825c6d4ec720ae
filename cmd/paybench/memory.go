package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// series is one sampled quantity: its first, last, smallest and largest
// values, and its value a quarter into the run (after the warm-up).
type series struct {
	First   float64 `json:"first"`
	Quarter float64 `json:"quarter"`
	Last    float64 `json:"last"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	n       int
}

func (s *series) add(v float64) {
	if s.n == 0 {
		s.First, s.Min, s.Max = v, v, v
	}
	s.Last = v
	s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	s.n++
}

// memSample is one sample of the server, with the orders completed by
// then.
type memSample struct {
	At         float64 `json:"t"` // seconds since the run began
	Completed  int64   `json:"completed"`
	RSS        float64 `json:"rss"`
	HeapInuse  float64 `json:"heap_inuse,omitempty"`
	Goroutines float64 `json:"goroutines,omitempty"`
	// SealingLag is paygate_chain_sealing_lag_seconds: the age of the
	// oldest journal row the hash chain has not sealed yet.
	SealingLag float64 `json:"sealing_lag,omitempty"`
}

// maxPoints bounds the samples a run keeps: past it, every other one is
// dropped and the rest are kept at half the rate.
const maxPoints = 1000

// memoryResult is what the server's memory did during the run, for the
// soak's "memory flat" check: compare the quarter and last values, after
// the warm-up. Its points also show the throughput over time.
type memoryResult struct {
	Source     string      `json:"source"` // "/metrics" or "/proc/PID/status"
	Samples    int         `json:"samples"`
	Every      float64     `json:"every_seconds"`
	RSS        series      `json:"rss_bytes"`
	HeapInuse  *series     `json:"heap_inuse_bytes,omitempty"`    // from /metrics only
	Goroutines *series     `json:"goroutines,omitempty"`          // from /metrics only
	SealingLag *series     `json:"sealing_lag_seconds,omitempty"` // from /metrics only
	Points     []memSample `json:"points"`
	// RateByQuarter is the complete orders per second in each quarter of
	// the run, from the points: a soak's throughput should stay flat too.
	RateByQuarter []float64 `json:"completed_per_second_by_quarter,omitempty"`
	Error         string    `json:"error,omitempty"` // the last sample that failed
}

// sampler samples the server's memory every interval.
type sampler struct {
	client    *client
	pid       int
	completed func() int64
	start     time.Time
	stride    int // keep every stride-th sample in points
	res       memoryResult
}

// sampleMemory samples until ctx is done and returns what it saw.
func (b *bench) sampleMemory(ctx context.Context) *memoryResult {
	s := &sampler{client: b.client, pid: b.cfg.pid, completed: b.stats.completed.Load, start: time.Now(), stride: 1}
	s.res.Every = b.cfg.sampleEvery.Seconds()
	s.res.Source = "/metrics"
	if s.pid > 0 {
		s.res.Source = fmt.Sprintf("/proc/%d/status", s.pid)
	} else {
		s.res.HeapInuse, s.res.Goroutines, s.res.SealingLag = &series{}, &series{}, &series{}
	}
	t := time.NewTicker(b.cfg.sampleEvery)
	defer t.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			s.sample(context.WithoutCancel(ctx)) // the last one, at the end of the run
			s.summarize()
			return &s.res
		case <-t.C:
		}
	}
}

func (s *sampler) sample(ctx context.Context) {
	var (
		m   memSample
		err error
	)
	if s.pid > 0 {
		m.RSS, err = s.fromProc()
	} else {
		m, err = s.fromMetrics(ctx)
	}
	if err != nil {
		s.res.Error = err.Error()
		return
	}
	m.At, m.Completed = time.Since(s.start).Seconds(), s.completed()
	s.res.Samples++
	if (s.res.Samples-1)%s.stride != 0 {
		return
	}
	if len(s.res.Points) == maxPoints {
		for i := range maxPoints / 2 {
			s.res.Points[i] = s.res.Points[2*i]
		}
		s.res.Points = s.res.Points[:maxPoints/2]
		s.stride *= 2
	}
	s.res.Points = append(s.res.Points, m)
}

// summarize fills the series from the points; the last sample is always
// among them.
func (s *sampler) summarize() {
	pts := s.res.Points
	if len(pts) == 0 {
		return
	}
	quarter := pts[len(pts)-1].At / 4
	for _, p := range pts {
		s.res.RSS.add(p.RSS)
		if s.res.HeapInuse != nil {
			s.res.HeapInuse.add(p.HeapInuse)
			s.res.Goroutines.add(p.Goroutines)
			s.res.SealingLag.add(p.SealingLag)
		}
		if p.At <= quarter || s.res.RSS.n == 1 {
			s.res.RSS.Quarter = p.RSS
			if s.res.HeapInuse != nil {
				s.res.HeapInuse.Quarter, s.res.Goroutines.Quarter, s.res.SealingLag.Quarter = p.HeapInuse, p.Goroutines, p.SealingLag
			}
		}
	}
	s.res.RateByQuarter = rateByQuarter(pts)
}

// rateByQuarter returns the completions per second in each quarter of the
// points' span, each quarter ending at the last point within it; nil when
// the points are too few to tell.
func rateByQuarter(pts []memSample) []float64 {
	if len(pts) < 5 {
		return nil
	}
	span := pts[len(pts)-1].At
	var out []float64
	prev := pts[0]
	for q := 1; q <= 4; q++ {
		end := prev
		for _, p := range pts {
			if p.At <= span*float64(q)/4+1e-9 {
				end = p
			}
		}
		if end.At <= prev.At {
			return nil
		}
		out = append(out, float64(end.Completed-prev.Completed)/(end.At-prev.At))
		prev = end
	}
	return out
}

// fromProc reads VmRSS of /proc/PID/status, in bytes.
func (s *sampler) fromProc() (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return 0, fmt.Errorf("sample memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("sample memory: VmRSS %q: %w", rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("sample memory: no VmRSS in /proc/%d/status", s.pid)
}

// fromMetrics reads the process and Go collectors' gauges of /metrics.
func (s *sampler) fromMetrics(ctx context.Context) (memSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.client.base+"/metrics", nil)
	if err != nil {
		return memSample{}, fmt.Errorf("sample memory: %w", err)
	}
	resp, err := s.client.http.Do(req)
	if err != nil {
		return memSample{}, fmt.Errorf("sample memory: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return memSample{}, fmt.Errorf("sample memory: GET /metrics = %d", resp.StatusCode)
	}
	vals, err := gauges(resp.Body, "process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_goroutines", "paygate_chain_sealing_lag_seconds")
	if err != nil {
		return memSample{}, fmt.Errorf("sample memory: %w", err)
	}
	rss, ok := vals["process_resident_memory_bytes"]
	if !ok {
		return memSample{}, fmt.Errorf("sample memory: /metrics has no process_resident_memory_bytes (no process collector)")
	}
	return memSample{RSS: rss, HeapInuse: vals["go_memstats_heap_inuse_bytes"], Goroutines: vals["go_goroutines"],
		SealingLag: vals["paygate_chain_sealing_lag_seconds"]}, nil
}

// gauges reads unlabelled samples of the names from the Prometheus text
// format.
func gauges(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		fields := strings.Fields(value)
		if !ok || !want[name] || len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out[name] = v
	}
	return out, sc.Err()
}
