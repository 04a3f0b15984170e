// Package postgres opens pgx v5 connection pools, runs embedded SQL
// migrations safely from several replicas at once, and wraps work in
// transactions. It never uses database/sql.
package postgres
