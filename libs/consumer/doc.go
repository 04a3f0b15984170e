// Package consumer runs durable JetStream pull consumers whose side effects
// are exactly-once with respect to the database.
//
// Each message is handled in one Postgres transaction that also records the
// event id in an inbox table (consumer_inbox), so a redelivery after a crash
// or a lost ack is recognised and skipped. Failed messages are retried with
// backoff; after the last attempt, or at once for a Permanent error, they are
// copied to the dead-letter stream (subject deadletter.<durable>) and
// terminated on the source stream.
//
// # The delivery budget
//
// Config.MaxDeliver bounds the attempts that are the handler's to answer
// for. An attempt that failed because the database was unreachable is not
// one of them. JetStream cannot tell the two apart, since its delivery count
// (NumDelivered) grows with every redelivery. So the JetStream consumer
// redelivers without limit (MaxDeliver -1) and the runner keeps its own
// count in Postgres (consumer_attempts, one row per event that failed or was
// redelivered), so every replica and every restart sees the same count:
//
//   - A first delivery runs at once. If the handler fails, the attempt is
//     counted after the rollback.
//   - A redelivery is counted before its handler runs, so attempts that never
//     finish (a crash, a hang past AckWait) still use up the budget. A
//     message that crashes the process is dead-lettered too, after at most
//     one attempt more than MaxDeliver: the uncounted first one.
//   - A failed attempt that the database, not the handler, caused is not
//     counted (see below).
//   - An attempt that was counted before it ran and that an outage then ended
//     is refunded once the database answers again.
//   - On success the count goes, in the same transaction as the inbox row.
//     A re-driven copy has a stream sequence of its own and starts a fresh
//     budget.
//
// A failure is sorted by what pgx reports (see classify). Connection errors
// never count: PgError class 08, 57P01-57P03 (shutdown, cannot connect now),
// 53300 (too many connections), a ConnectError, or a closed connection. A
// timeout or a network error counts only if the database answers a ping
// afterwards: a slow handler times out too, but then the ping succeeds.
//
// # Database outages
//
// When a message finds the database unreachable, the runner hands it back
// (NakWithDelay, outcome "deferred"), hands back the rest of its batch
// unhandled, and pauses: it fetches nothing, rather than cycle through
// messages it cannot handle, and it pings with capped exponential backoff
// (1s doubling to 15s, each ping bounded by 5s). The gauge
// storefront_consumer_paused is 1 meanwhile. The log says "database
// unreachable; consumer paused", then "database reachable again; consumer
// resumed" with paused_for. Other replicas pause in the same way when they
// meet the outage.
//
// # Dead letters
//
// Once the runner decides to dead-letter a message it records that decision
// (consumer_attempts.dead_reason) and then publishes the copy. If the
// publish fails (no DEADLETTER stream, NATS trouble), the message is not
// acked and not given up. It is nak'ed with the backoff, and each later
// delivery only publishes again, without running the handler, until a copy
// is stored. storefront_consumer_deadletter_publish_failures_total counts
// the failures.
//
// # Redrive
//
// storefrontctl re-drives a dead letter to RedriveSubject(original
// subject, durable), for example
// orders._redrive.catalogue-order-cancelled.order.cancelled, which the
// event's own stream stores. Each runner also filters
// on its own redrive subjects, and it acks and skips (outcome "skipped")
// another durable's redrive subjects when a broad filter brings them. So
// only the consumer that failed handles the copy, even when the others'
// inbox rows for the event were pruned long ago. The handler sees the
// original subject. A dead letter from before redrive subjects existed
// names its consumer (Storefront-Consumer or its subject), so it can be
// re-driven the same way.
//
// # Where a new consumer starts
//
// Each inbox row stores the event's stream sequence. Pruning records the
// highest sequence it deleted (consumer_inbox_pruned). A durable consumer
// that is created again after it was lost (a restored stream, an operator's
// mistake) starts after that sequence, so it does not replay events whose
// inbox rows are gone and which it would otherwise handle twice. An
// existing consumer keeps where it started. See startAfter for the cases
// where no sequence is known.
package consumer
