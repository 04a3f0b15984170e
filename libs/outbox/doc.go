// Package outbox implements the transactional outbox: Enqueue stores an
// event in the same transaction as the business change that caused it, and
// a Relay publishes stored events to JetStream afterwards, waiting for each
// PubAck before marking the row published.
//
// Delivery is at least once. A relay that crashes after a PubAck but before
// marking the row publishes it again with the same Nats-Msg-Id, which the
// stream's duplicate window drops, so the window must cover the relay's
// retry horizon. Several relays may share a database: rows are claimed with
// FOR UPDATE SKIP LOCKED.
//
// A row that can never be published, such as one whose subject no stream
// covers or one larger than the server accepts, must not hold up the rows
// behind it. The relay skips past it, retries it with a growing pause, and
// after RelayConfig.MaxAttempts parks it: dead_at is set, the row leaves
// the pending count for storefront_outbox_dead, and it stays in the table
// (Cleanup never deletes it) until an operator fixes the cause and calls
// Relay.Requeue, or deletes it. Outages never park a row: the connection
// or JetStream down, a stream without a leader or not provisioned yet
// (WithStreamSubjects), and a full account or stream. While one lasts the
// relay stops, keeps the rows in order and backs off; the backlog shows in
// storefront_outbox_pending and storefront_outbox_oldest_pending_age_seconds
// and the failures in storefront_outbox_publish_errors_total{kind="outage"}.
package outbox
