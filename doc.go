// Package paygate holds the shared vocabulary of the payment gateway
// orchestration service: money (an amount of integer minor units with its
// currency), the error type with its codes, and the business numbers of
// payment orders (P12345678) and sales orders (K1234567).
//
// It imports no other package of the project; every other package may import
// it.
package paygate
