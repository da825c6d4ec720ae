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
// values.
type series struct {
	First float64 `json:"first"`
	Last  float64 `json:"last"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	n     int
}

func (s *series) add(v float64) {
	if s.n == 0 {
		s.First, s.Min, s.Max = v, v, v
	}
	s.Last = v
	s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	s.n++
}

// memoryResult is what the server's memory did during the run, for the
// soak's "memory flat" check: compare first and last after the warm-up.
type memoryResult struct {
	Source     string  `json:"source"` // "/metrics" or "/proc/PID/status"
	Samples    int     `json:"samples"`
	Every      float64 `json:"every_seconds"`
	RSS        series  `json:"rss_bytes"`
	HeapInuse  *series `json:"heap_inuse_bytes,omitempty"` // from /metrics only
	Goroutines *series `json:"goroutines,omitempty"`       // from /metrics only
	Error      string  `json:"error,omitempty"`            // the last sample that failed
}

// sampler samples the server's memory every interval.
type sampler struct {
	client *client
	pid    int
	res    memoryResult
}

// sampleMemory samples until ctx is done and returns what it saw.
func (b *bench) sampleMemory(ctx context.Context) *memoryResult {
	s := &sampler{client: b.client, pid: b.cfg.pid}
	s.res.Every = b.cfg.sampleEvery.Seconds()
	s.res.Source = "/metrics"
	if s.pid > 0 {
		s.res.Source = fmt.Sprintf("/proc/%d/status", s.pid)
	} else {
		s.res.HeapInuse, s.res.Goroutines = &series{}, &series{}
	}
	t := time.NewTicker(b.cfg.sampleEvery)
	defer t.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			s.sample(context.WithoutCancel(ctx)) // the last one, at the end of the run
			return &s.res
		case <-t.C:
		}
	}
}

func (s *sampler) sample(ctx context.Context) {
	var err error
	if s.pid > 0 {
		err = s.fromProc()
	} else {
		err = s.fromMetrics(ctx)
	}
	if err != nil {
		s.res.Error = err.Error()
		return
	}
	s.res.Samples++
}

// fromProc reads VmRSS of /proc/PID/status.
func (s *sampler) fromProc() error {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return fmt.Errorf("sample memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return fmt.Errorf("sample memory: VmRSS %q: %w", rest, err)
			}
			s.res.RSS.add(kb * 1024)
			return nil
		}
	}
	return fmt.Errorf("sample memory: no VmRSS in /proc/%d/status", s.pid)
}

// fromMetrics reads the process and Go collectors' gauges of /metrics.
func (s *sampler) fromMetrics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.client.base+"/metrics", nil)
	if err != nil {
		return fmt.Errorf("sample memory: %w", err)
	}
	resp, err := s.client.http.Do(req)
	if err != nil {
		return fmt.Errorf("sample memory: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sample memory: GET /metrics = %d", resp.StatusCode)
	}
	vals, err := gauges(resp.Body, "process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_goroutines")
	if err != nil {
		return fmt.Errorf("sample memory: %w", err)
	}
	rss, ok := vals["process_resident_memory_bytes"]
	if !ok {
		return fmt.Errorf("sample memory: /metrics has no process_resident_memory_bytes (no process collector)")
	}
	s.res.RSS.add(rss)
	if v, ok := vals["go_memstats_heap_inuse_bytes"]; ok {
		s.res.HeapInuse.add(v)
	}
	if v, ok := vals["go_goroutines"]; ok {
		s.res.Goroutines.add(v)
	}
	return nil
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
