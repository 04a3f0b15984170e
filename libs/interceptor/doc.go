// Package interceptor provides the server interceptors that every Storefront
// service runs, in this order: default deadline, metrics, logging, recovery,
// errors (apperr errors to statuses), (authentication, supplied by the
// service), and request validation.
package interceptor
