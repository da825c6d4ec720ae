package delivery

import (
	"context"

	"github.com/paygate/paygate/events"
)

// ClaimAndRelease claims up to n due deliveries as a worker does, gives
// their leases back, and returns their events.
func (s *Service) ClaimAndRelease(ctx context.Context, n int) ([]events.Event, error) {
	jobs, evs, err := s.claim(ctx, n)
	if err != nil {
		return nil, err
	}
	s.release(ctx)
	out := make([]events.Event, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, evs[j.EventID])
	}
	return out, nil
}
