// Package providers will hold the one interface behind which every payment
// gateway sits (create a payment and return its next action, fetch a
// payment's status, refund, verify and parse a webhook into provider-neutral
// events, parse a settlement report), the catalog of payment methods, and a
// conformance test kit. Stripe, Rapyd and their sandbox simulators live in
// sub-packages. Built by the checkout issue.
package providers
