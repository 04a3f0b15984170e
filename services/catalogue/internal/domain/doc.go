// Package domain holds the catalogue's types and rules: products and their
// editable fields, stock arithmetic, reservations and their life cycle, and
// the errors the transport layer turns into status codes. It does no I/O.
package domain
