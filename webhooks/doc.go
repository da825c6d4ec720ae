// Package webhooks will take the providers' signed webhooks: limit their
// size, verify them, store each event durably in the inbox before answering
// 2xx, and settle it exactly once into the ledger. Built by the checkout and
// webhook issues.
package webhooks
