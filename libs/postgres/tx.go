package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// txKey is the context key of the unit of work; see WithTx.
type txKey struct{}

// WithTx returns a copy of ctx that carries tx as the unit of work: InTx
// under it joins tx instead of beginning a transaction of its own. An event
// consumer uses it to hand a use case the transaction that holds its inbox
// row, so the use case's writes commit with that row, exactly once, while
// the use case and its stores know nothing of the consumer.
func WithTx(ctx context.Context, tx pgx.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// TxFrom returns the unit of work ctx carries, if any.
func TxFrom(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	return tx, ok
}

// InTx runs fn in a transaction and commits when fn returns nil. It rolls
// back when fn returns an error or panics; a panic is re-raised after the
// rollback. When ctx carries a unit of work (WithTx), fn runs in a savepoint
// of it instead: an error rolls back fn's writes only, and the outer
// transaction's owner commits the rest.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) (err error) {
	if outer, ok := TxFrom(ctx); ok {
		return pgx.BeginFunc(ctx, outer, fn)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin tx: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(context.WithoutCancel(ctx)); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			return errors.Join(err, fmt.Errorf("rollback tx: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit tx: %w", err)
	}
	return nil
}
