package postgres

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/storefront-go/storefront/libs/apperr"
)

// Dependency names Postgres in unavailable errors and their logs.
const Dependency = "postgres"

// ConnectionFailed reports whether err says the database connection failed,
// rather than a statement: refused or dropped connections, class 08
// (connection exception), admin or crash shutdown and "cannot connect now"
// (57P01-57P03), and too many connections (53300).
func ConnectionFailed(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	_, ok := errors.AsType[*pgconn.ConnectError](err)
	return ok || errors.Is(err, pgconn.ErrConnClosed)
}

// TimedOut reports whether the server gave up on a statement at
// statement_timeout (57014) or on a lock at lock_timeout (55P03).
func TimedOut(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && (pgErr.Code == "57014" || pgErr.Code == "55P03")
}

// Unavailable turns an error that says the database cannot serve now (its
// connection failed, or a statement or lock wait ran out of time) into
// UNAVAILABLE naming postgres, and returns nil for any other error. The
// gRPC server uses it to classify what handlers return.
func Unavailable(err error) error {
	if !ConnectionFailed(err) && !TimedOut(err) {
		return nil
	}
	return apperr.Unavailable(Dependency, "the database is not answering in time; try again").WithCause(err)
}
