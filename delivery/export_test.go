package delivery

import (
	"context"
	"time"

	"github.com/paygate/paygate/events"
)

// ClaimAndRelease claims up to n due deliveries as a worker does, gives
// their leases back, and returns their events and how long the claim took.
func (s *Service) ClaimAndRelease(ctx context.Context, n int) ([]events.Event, time.Duration, error) {
	start := time.Now()
	jobs, evs, err := s.claim(ctx, n)
	took := time.Since(start)
	if err != nil {
		return nil, 0, err
	}
	s.release(ctx)
	out := make([]events.Event, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, evs[j.EventID])
	}
	return out, took, nil
}
