// Package consumer runs durable JetStream pull consumers whose side effects
// are exactly-once with respect to the database.
//
// Each message is handled in one Postgres transaction that also records the
// event id in an inbox table (consumer_inbox), so a redelivery after a crash
// or a lost ack is recognised and skipped. Failed messages are retried with
// backoff; after the last attempt, or at once for a Permanent error, they are
// copied to the dead-letter stream (subject deadletter.<durable>) and
// terminated on the source stream.
package consumer
