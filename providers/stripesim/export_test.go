package stripesim

import "context"

// WebhooksIdle waits until no event is being sent or retried in the
// background (simkit.Deliverer.Idle), or ctx ends, and reports which.
func (s *Simulator) WebhooksIdle(ctx context.Context) bool { return s.hooks.Idle(ctx) }
