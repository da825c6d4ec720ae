package delivery

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/redact"
	"github.com/paygate/paygate/storage"
)

// scanBatch is how many events one dispatch pass reads.
const scanBatch = 1000

// insertChunk bounds the rows of one multi-row INSERT (9 arguments each).
const insertChunk = 500

// streamChunk bounds the streams one statement of settle names.
const streamChunk = 500

// Keep is how long finished deliveries and their attempts are kept.
const Keep = 30 * 24 * time.Hour

// Run dispatches and delivers until ctx is done: the dispatcher every
// interval (and when an endpoint changes), Config.Workers delivery loops
// when the dispatcher made deliveries or every interval (due retries).
// Several instances may run on one database.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	kick := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.deliverLoop(ctx, interval, kick)
		}()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		for {
			n, more, err := s.Dispatch(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.cfg.Logger.Error().Err(err).Msg("webhook delivery: dispatch")
				}
				break
			}
			if n > 0 {
				for range s.cfg.Workers {
					select {
					case kick <- struct{}{}:
					default:
					}
				}
			}
			if !more {
				break
			}
		}
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			if _, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn().Err(err).Msg("webhook delivery: prune")
			}
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			s.release(ctx)
			return
		case <-t.C:
		case <-s.wakec:
		}
	}
}

func (s *Service) deliverLoop(ctx context.Context, interval time.Duration, kick <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.DeliverDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error().Err(err).Msg("webhook delivery")
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
	}
}

// release gives up this instance's leases as it stops.
func (s *Service) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		_, err := tx.Release(ctx, s.lease())
		return err
	})
	if err != nil {
		s.cfg.Logger.Warn().Err(err).Msg("webhook delivery: release leases")
	}
}

// lease is how the instances share out the due deliveries: each claims
// them under a lease of Config.Lease in locked_until, naming itself in
// locked_by.
func (s *Service) lease() storage.Lease {
	return storage.Lease{Table: "webhook_deliveries", Key: "id", Until: "locked_until", For: s.cfg.Lease,
		By: "locked_by", Holder: s.cfg.Instance}
}

// Dispatch makes the deliveries of the events after the enabled endpoints'
// positions (one pass of up to scanBatch events), advances their positions,
// and returns how many deliveries it made and whether more events wait.
func (s *Service) Dispatch(ctx context.Context) (int, bool, error) {
	if _, err := s.cfg.Events.Sequence(ctx); err != nil {
		return 0, false, err
	}
	var eps []Endpoint
	err := s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &eps, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE disabled = ?`, false)
	})
	if err != nil || len(eps) == 0 {
		return 0, false, wrap("dispatch", err)
	}
	from := eps[0].Position
	for _, e := range eps {
		from = min(from, e.Position)
	}
	evs, err := s.cfg.Events.Scan(ctx, from, scanBatch)
	if err != nil || len(evs) == 0 {
		return 0, false, err
	}
	last := evs[len(evs)-1].Position
	made := 0
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		made = 0
		var touched []stream
		for _, ep := range eps {
			// Another instance dispatching this endpoint now holds its
			// row: it is skipped, not waited for.
			q := `SELECT ` + endpointCols + ` FROM webhook_endpoints WHERE id = ? AND disabled = ?` + tx.SkipLocked()
			var cur []Endpoint
			if err := tx.Select(ctx, &cur, q, ep.ID, false); err != nil {
				return err
			}
			if len(cur) == 0 || cur[0].Position >= last {
				continue
			}
			e := cur[0]
			if err := e.finish(tx.Now()); err != nil {
				return err
			}
			var rows []events.Event
			for _, ev := range evs {
				if ev.Position > e.Position && e.Matches(ev.Type) {
					rows = append(rows, ev)
					touched = append(touched, stream{e.ID, ev.Resource})
				}
			}
			for len(rows) > 0 {
				chunk := rows[:min(len(rows), insertChunk)]
				rows = rows[len(chunk):]
				args := make([]any, 0, len(chunk)*9)
				for _, ev := range chunk {
					args = append(args, e.ID, ev.ID, ev.Type, ev.Resource, ev.Sequence, ev.CreatedAt, StatusPending, tx.Now(), tx.Now())
				}
				res, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, resource, sequence, event_created_at, status, next_attempt_at, created_at)
					VALUES `+storage.Rows(len(chunk), 9)+`
					ON CONFLICT (endpoint_id, event_id) DO NOTHING`, args...)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				made += int(n)
			}
			if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET last_position = ? WHERE id = ?`, last, e.ID); err != nil {
				return err
			}
		}
		// The new deliveries of a stream without a head get one.
		return settle(ctx, tx, touched)
	})
	if err != nil {
		return 0, false, wrap("dispatch", err)
	}
	return made, len(evs) == scanBatch, nil
}

// job is one claimed delivery with what sending it needs.
type job struct {
	ID             int64      `db:"id"`
	EndpointID     string     `db:"endpoint_id"`
	EventID        string     `db:"event_id"`
	EventType      string     `db:"event_type"`
	Resource       string     `db:"resource"`
	EventCreatedAt time.Time  `db:"event_created_at"`
	Attempts       int        `db:"attempts"`
	Generation     int64      `db:"generation"`
	URL            string     `db:"url"`
	Secret         string     `db:"secret"`
	Previous       string     `db:"previous_secret"`
	PreviousUntil  *time.Time `db:"previous_secret_until"`
}

// outcome is what one attempt came to.
type outcome struct {
	job        job
	at         time.Time
	result     string
	status     int
	duration   time.Duration
	response   string
	err        string
	retryAfter time.Duration
	missing    bool // the event was pruned
}

// DeliverDue claims up to Config.Batch due deliveries, sends them
// concurrently, records the attempts, and returns how many it sent.
func (s *Service) DeliverDue(ctx context.Context) (int, error) {
	jobs, evs, err := s.claim(ctx, s.cfg.Batch)
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	outs := make([]outcome, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		ev, ok := evs[j.EventID]
		if !ok {
			outs[i] = outcome{job: j, at: s.cfg.Now(), result: ResultFailure, err: "the event was pruned", missing: true}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = s.send(ctx, j, ev)
		}()
	}
	wg.Wait()
	if err := s.record(ctx, outs); err != nil {
		return 0, err
	}
	return len(jobs), nil
}

// claim leases up to n due deliveries to this instance, and reads their
// events (a pruned one is missing from the map): heads of their
// stream (a later event waits for the earlier one to be acknowledged or
// given up), due, of an enabled endpoint, with a free or run-out lease. It
// reads only the index of due heads, whatever the backlog behind them.
func (s *Service) claim(ctx context.Context, n int) ([]job, map[string]events.Event, error) {
	var jobs []job
	var evs map[string]events.Event
	err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		jobs = nil
		// The literals 'pending' and ready let SQLite use the partial index.
		l := s.lease()
		l.Where = `status = 'pending' AND ready AND next_attempt_at <= ?
			AND NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = webhook_deliveries.endpoint_id AND e.disabled)`
		l.Args, l.Order = []any{tx.Now()}, "next_attempt_at, id"
		l.Returning = "id, endpoint_id, event_id, event_type, resource, event_created_at, attempts, generation"
		if err := tx.Claim(ctx, &jobs, l, n); err != nil {
			return err
		}
		if len(jobs) == 0 {
			return nil
		}
		seen := map[string]bool{}
		var args []any
		for _, j := range jobs {
			if !seen[j.EndpointID] {
				seen[j.EndpointID] = true
				args = append(args, j.EndpointID)
			}
		}
		var eps []job
		if err := tx.Select(ctx, &eps, `SELECT id AS endpoint_id, url, secret, previous_secret, previous_secret_until
			FROM webhook_endpoints WHERE id IN (`+storage.Params(len(args))+`)`, args...); err != nil {
			return err
		}
		byID := make(map[string]job, len(eps))
		for _, e := range eps {
			byID[e.EndpointID] = e
		}
		for i := range jobs {
			e := byID[jobs[i].EndpointID]
			jobs[i].URL, jobs[i].Secret, jobs[i].Previous, jobs[i].PreviousUntil = e.URL, e.Secret, e.Previous, e.PreviousUntil
		}
		slices.SortFunc(jobs, func(a, b job) int { return cmp.Compare(a.ID, b.ID) })
		ids := make([]string, len(jobs))
		for i, j := range jobs {
			ids[i] = j.EventID
		}
		var err error
		evs, err = events.Lookup(ctx, tx, ids)
		return err
	})
	if err != nil {
		return nil, nil, wrap("claim deliveries", err)
	}
	return jobs, evs, nil
}

// idIn is the condition that id is among the ids the subquery sub
// selects. On PostgreSQL the ids are computed first (an array), so that
// the planner cannot choose to scan the whole table and join it with them,
// as it may while the table's statistics are stale.
func idIn(tx *storage.Tx, sub string) string {
	if tx.Dialect() == storage.Postgres {
		return `id = ANY(ARRAY(` + sub + `))`
	}
	return `id IN (` + sub + `)`
}

// stream is the deliveries of one resource's events to one endpoint, sent
// one at a time in sequence order: only its head (the pending delivery of
// lowest sequence, marked ready) may be claimed.
type stream struct{ endpoint, resource string }

func (a stream) compare(b stream) int {
	return cmp.Or(strings.Compare(a.endpoint, b.endpoint), strings.Compare(a.resource, b.resource))
}

// settle gives each of streams that has pending deliveries and no head its
// head: the pending delivery of lowest sequence. Every transaction that
// adds pending deliveries to a stream or takes its head out of pending
// calls it after those changes, as its last writes.
//
// On PostgreSQL it first locks the streams' webhook_streams rows, in one
// order (no deadlock between two settles), so that two transactions
// settling one stream take turns and the second sees what the first
// committed: a worker acknowledging the head while the dispatcher adds the
// next delivery cannot both conclude that the other will make it the head.
// SQLite's writers already take turns.
func settle(ctx context.Context, tx *storage.Tx, streams []stream) error {
	if len(streams) == 0 {
		return nil
	}
	streams = slices.Clone(streams)
	slices.SortFunc(streams, stream.compare)
	streams = slices.Compact(streams)
	for len(streams) > 0 {
		chunk := streams[:min(len(streams), streamChunk)]
		streams = streams[len(chunk):]
		args := make([]any, 0, 2*len(chunk))
		for _, st := range chunk {
			args = append(args, st.endpoint, st.resource)
		}
		values := storage.Rows(len(chunk), 2)
		if tx.Dialect() == storage.Postgres {
			if _, err := tx.Exec(ctx, `INSERT INTO webhook_streams (endpoint_id, resource) VALUES `+values+`
				ON CONFLICT (endpoint_id, resource) DO UPDATE SET resource = excluded.resource`, args...); err != nil {
				return fmt.Errorf("lock streams: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET ready = TRUE WHERE `+idIn(tx, `
				SELECT (SELECT h.id FROM webhook_deliveries h
						WHERE h.endpoint_id = v.column1 AND h.resource = v.column2 AND h.status = 'pending'
						ORDER BY h.sequence LIMIT 1)
				FROM (VALUES `+values+`) v
				WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries r
					WHERE r.endpoint_id = v.column1 AND r.resource = v.column2 AND r.status = 'pending' AND r.ready)`), args...); err != nil {
			return fmt.Errorf("settle streams: %w", err)
		}
	}
	return nil
}

// Signature returns the webhook-signature header of payload: v1 with the
// secret, and with the previous secret beside it while it is valid at ts.
func Signature(msgID string, ts time.Time, payload []byte, secret, previous string, previousUntil *time.Time) (string, error) {
	sign := func(secret string) (string, error) {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return "", fmt.Errorf("delivery: signing key: %w", err)
		}
		return wh.Sign(msgID, ts, payload)
	}
	sig, err := sign(secret)
	if err != nil {
		return "", err
	}
	if previous != "" && previousUntil != nil && ts.Before(*previousUntil) {
		old, err := sign(previous)
		if err != nil {
			return "", err
		}
		sig += " " + old
	}
	return sig, nil
}

// send makes one attempt.
func (s *Service) send(ctx context.Context, j job, ev events.Event) outcome {
	out := outcome{job: j, at: s.cfg.Now()}
	fail := func(result string, err error) outcome {
		out.result, out.err = result, paygate.Clip(redact.String(err.Error()), 1000)
		return out
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return fail(ResultError, err)
	}
	sig, err := Signature(j.EventID, out.at, payload, j.Secret, j.Previous, j.PreviousUntil)
	if err != nil {
		return fail(ResultError, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(payload))
	if err != nil {
		return fail(ResultError, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paygate-webhooks/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, j.EventID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(out.at.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		out.duration = time.Since(start)
		if errors.Is(err, ErrForbiddenAddress) {
			return fail(ResultRefused, err)
		}
		return fail(ResultError, err)
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, responseKeep))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	out.duration = time.Since(start)
	out.status = resp.StatusCode
	out.response = strings.ToValidUTF8(strings.ReplaceAll(string(body), "\x00", ""), "\uFFFD")
	switch {
	case rerr != nil:
		// A 2xx whose body did not arrive in time is no acknowledgement.
		return fail(ResultError, rerr)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		out.result = ResultSuccess
	case resp.StatusCode == http.StatusGone:
		out.result = ResultGone
	default:
		out.result = ResultFailure
		out.retryAfter = retryAfter(resp.Header.Get("Retry-After"), out.at)
	}
	return out
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), at most
// a day; 0 without one.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 24*time.Hour)
}

// delay is the wait after the attempts-th failed attempt: the schedule's,
// up to a fifth longer (jitter), and at least what Retry-After asked.
func (s *Service) delay(attempts int, ra time.Duration) time.Duration {
	d := s.cfg.Schedule[min(attempts, len(s.cfg.Schedule))-1]
	d += time.Duration(rand.Int64N(int64(d)/5 + 1))
	return max(d, ra)
}

// record writes the attempts and their deliveries' new states in one
// transaction, in a few statements whatever the number of attempts, and
// gives the streams whose head is done their next head. The steps:
// disable the endpoints that answered 410 Gone, insert the attempts,
// update the deliveries that failed and those delivered, give back the
// lease of those redelivered while in flight, and settle the streams.
func (s *Service) record(ctx context.Context, outs []outcome) error {
	err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		// Endpoints before streams: the order in which every transaction
		// locks them.
		if err := disableGone(ctx, tx, outs); err != nil {
			return err
		}
		if err := insertAttempts(ctx, tx, outs); err != nil {
			return err
		}
		done, stale, delivered, err := s.recordUndelivered(ctx, tx, outs)
		if err != nil {
			return err
		}
		moreDone, moreStale, err := markDelivered(ctx, tx, delivered)
		if err != nil {
			return err
		}
		done, stale = append(done, moreDone...), append(stale, moreStale...)
		if err := s.releaseStale(ctx, tx, stale); err != nil {
			return err
		}
		if err := settle(ctx, tx, done); err != nil {
			return err
		}
		tx.AfterCommit(func() {
			for _, o := range outs {
				s.metrics.attempt(o)
			}
		})
		return nil
	})
	return wrap("record attempts", err)
}

// disableGone disables the endpoint of each outcome that answered 410 Gone.
func disableGone(ctx context.Context, tx *storage.Tx, outs []outcome) error {
	for _, o := range outs {
		if o.result == ResultGone {
			if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET disabled = ?, disabled_reason = ?, updated_at = ? WHERE id = ?`,
				true, fmt.Sprintf("the endpoint answered 410 Gone at %s", o.at.UTC().Format(time.RFC3339)), tx.Now(), o.job.EndpointID); err != nil {
				return err
			}
		}
	}
	return nil
}

// insertAttempts inserts a webhook_attempts row for each outcome, a chunk
// of rows per statement.
func insertAttempts(ctx context.Context, tx *storage.Tx, outs []outcome) error {
	for rest := outs; len(rest) > 0; {
		chunk := rest[:min(len(rest), insertChunk/5)]
		rest = rest[len(chunk):]
		args := make([]any, 0, 11*len(chunk))
		for _, o := range chunk {
			j := o.job
			args = append(args, j.ID, j.EndpointID, j.EventID, j.EventType, j.Attempts+1, o.at.UTC(), o.result, o.status,
				o.duration.Milliseconds(), o.response, o.err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, endpoint_id, event_id, event_type, attempt, attempted_at, result, status_code, duration_ms, response, error)
			VALUES `+storage.Rows(len(chunk), 11), args...); err != nil {
			return err
		}
	}
	return nil
}

// recordUndelivered updates each delivery whose attempt failed: failed for
// good when its endpoint or event is missing or the schedule is spent, due
// again after the next delay otherwise. It returns the streams whose head
// failed for good, the outcomes of deliveries redelivered while in flight
// (their generation moved on), and the outcomes delivered, left to
// markDelivered.
func (s *Service) recordUndelivered(ctx context.Context, tx *storage.Tx, outs []outcome) (done []stream, stale, delivered []outcome, err error) {
	for _, o := range outs {
		j := o.job
		attempt := j.Attempts + 1
		var q string
		var args []any
		switch {
		case o.result == ResultSuccess:
			delivered = append(delivered, o)
			continue
		case o.missing || attempt > len(s.cfg.Schedule):
			q, args = `UPDATE webhook_deliveries SET status = ?, attempts = ?, ready = FALSE, locked_until = NULL, locked_by = ''
				WHERE id = ? AND generation = ?`, []any{StatusFailed, attempt, j.ID, j.Generation}
		default:
			q, args = `UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ?, locked_until = NULL, locked_by = ''
				WHERE id = ? AND generation = ?`, []any{attempt, tx.Now().Add(s.delay(attempt, o.retryAfter)), j.ID, j.Generation}
		}
		res, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return nil, nil, nil, err
		}
		switch n, err := res.RowsAffected(); {
		case err != nil:
			return nil, nil, nil, err
		case n == 0:
			stale = append(stale, o)
		case o.missing || attempt > len(s.cfg.Schedule):
			done = append(done, stream{j.EndpointID, j.Resource})
		}
	}
	return done, stale, delivered, nil
}

// markDelivered marks the deliveries of outcomes delivered, a chunk per
// statement. It returns their streams, and the outcomes of those
// redelivered while in flight.
func markDelivered(ctx context.Context, tx *storage.Tx, delivered []outcome) (done []stream, stale []outcome, err error) {
	for rest := delivered; len(rest) > 0; {
		chunk := rest[:min(len(rest), insertChunk/5)]
		rest = rest[len(chunk):]
		args := []any{StatusDelivered, tx.Now()}
		for _, o := range chunk {
			args = append(args, o.job.ID, o.job.Generation)
		}
		var ids []int64
		if err := tx.Select(ctx, &ids, `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, delivered_at = ?, ready = FALSE,
				locked_until = NULL, locked_by = ''
			WHERE `+strings.TrimSuffix(strings.Repeat(`(id = ? AND generation = ?) OR `, len(chunk)), " OR ")+`
			RETURNING id`, args...); err != nil {
			return nil, nil, err
		}
		updated := make(map[int64]bool, len(ids))
		for _, id := range ids {
			updated[id] = true
		}
		for _, o := range chunk {
			if updated[o.job.ID] {
				done = append(done, stream{o.job.EndpointID, o.job.Resource})
			} else {
				stale = append(stale, o)
			}
		}
	}
	return done, stale, nil
}

// releaseStale gives back the lease of each delivery redelivered while in
// flight: it is due again, and only its lease is this worker's.
func (s *Service) releaseStale(ctx context.Context, tx *storage.Tx, stale []outcome) error {
	for _, o := range stale {
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET locked_until = NULL, locked_by = '' WHERE id = ? AND locked_by = ?`,
			o.job.ID, s.cfg.Instance); err != nil {
			return err
		}
	}
	return nil
}

// Prune deletes the finished deliveries (and their attempts) older than
// Keep, and returns how many.
func (s *Service) Prune(ctx context.Context) (int, error) {
	var n int64
	err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE status <> ? AND created_at < ?`, StatusPending, tx.Now().Add(-Keep))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || tx.Dialect() != storage.Postgres {
			return err
		}
		// The lock rows of streams with nothing pending; one held now is
		// skipped (its holder may be adding deliveries).
		_, err = tx.Exec(ctx, `DELETE FROM webhook_streams WHERE (endpoint_id, resource) IN (
			SELECT s.endpoint_id, s.resource FROM webhook_streams s
			WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d
				WHERE d.endpoint_id = s.endpoint_id AND d.resource = s.resource AND d.status = 'pending')
			FOR UPDATE SKIP LOCKED)`)
		return err
	})
	return int(n), wrap("prune", err)
}
