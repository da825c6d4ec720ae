// Package checkout will own payment orders (P12345678), their sales orders
// (K1234567) and payment attempts, and serve the checkout page. Built by the
// checkout issue.
package checkout
