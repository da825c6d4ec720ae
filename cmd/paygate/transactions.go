package main

import (
	"net/http"

	"github.com/gorilla/mux"
)

// requestCommit is how an API request under the idempotency middleware
// commits.
type requestCommit int

const (
	// oneTransaction: the claim of the request's key, everything its
	// handler changes (ledger postings and events included) and its stored
	// response commit in one write transaction; after a crash there is
	// either nothing of the request or all of it.
	oneTransaction requestCommit = iota + 1
	// claimThenFinish: the claim commits first, the handler commits its
	// own transactions, and the response is stored in a last one; a crash
	// in between leaves a claim without a response, which a retry takes
	// over after the lease, and the handler's idempotency.Effect records
	// make its money move once.
	claimThenFinish
)

// postCommits decides, for every POST route of the API (by its router
// template), where its request's transaction begins and ends. It is the one
// place that does.
//
// The rule: a request whose handler works only on the database runs as one
// transaction. A request whose handler waits on the network — a payment
// provider, a DNS lookup — or works for long (a report of up to 512 MiB)
// must not: its write transaction would be held across that wait, and on
// SQLite, which has one writer, every other write of the service would wait
// with it (on PostgreSQL it would hold its row locks as long). Those keep
// claim-then-finish, their handlers opening short transactions around the
// network call. A route missing here is claim-then-finish (TestPostCommits
// requires every POST route of the API to be listed).
func postCommits() map[string]requestCommit {
	return map[string]requestCommit{
		"/v1/payment-orders": oneTransaction,
		// StartAttempt creates the payment at the provider.
		"/v1/payment-orders/{number}/attempts": claimThenFinish,
		"/v1/sales-orders/{number}/{action:deliver|confirm|refund|request-refund|agree-refund|refuse-refund|dispute|resolve}": oneTransaction,
		// Refunds to source are created at the provider.
		"/v1/users/{id}/refunds-to-source": claimThenFinish,
		"/v1/users/{id}/payouts":           oneTransaction,
		// In live mode the endpoint's host is resolved (DNS) to refuse
		// private addresses.
		"/v1/webhook-endpoints":                    claimThenFinish,
		"/v1/webhook-endpoints/{id}/rotate-secret": oneTransaction,
		"/v1/events/{id}/redeliver":                oneTransaction,
		// Matching a report of up to 512 MiB takes minutes.
		"/v1/reconciliations": claimThenFinish,
		// Asks the provider for the payment's status.
		"/v1/finance/settle-payment": claimThenFinish,
	}
}

// oneTransactionRoute reports whether r, matched by the router, is a
// oneTransaction route of commits (idempotency.Store.OneTransaction).
func oneTransactionRoute(commits map[string]requestCommit) func(r *http.Request) bool {
	return func(r *http.Request) bool {
		route := mux.CurrentRoute(r)
		if route == nil {
			return false
		}
		tpl, err := route.GetPathTemplate()
		return err == nil && commits[tpl] == oneTransaction
	}
}
