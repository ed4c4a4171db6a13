package eventstore

import (
	"context"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
)

// DefaultMaxConns is the size of serve's connection pool. A command holds one
// connection for its transaction, commit included, so the pool is sized for the
// concurrent requests a node serves rather than for the cores: PostgreSQL's
// group commit turns more committers waiting on one flush into more throughput.
const DefaultMaxConns = 40

// writersLockKey is the advisory lock that separates writers from a rebuild's
// swap. Every transaction that may append takes it shared as its first
// statement (BEGIN, or append_events itself when the append is a transaction of
// its own: migrations/000012 holds the same number); the swap takes it exclusively, so it waits for the writers in
// flight, and the writers that come after wait for it. Taking it first, before
// any table, is what keeps the two from deadlocking.
const writersLockKey = 0x4153_5345_5441_4e43 // "ASSETANC"

// beginWritingQuery begins a writing transaction and takes writersLockKey
// shared in the same round trip (pgx sends a query without arguments with the
// simple protocol, which allows two statements).
var beginWritingQuery = "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock_shared(" +
	strconv.FormatInt(writersLockKey, 10) + ")"

// beginWriting runs fn in a new writing transaction on db.
func beginWriting(ctx context.Context, db DB, fn func(pgx.Tx) error) error {
	if b, ok := db.(interface {
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	}); ok {
		return pgx.BeginTxFunc(ctx, b, pgx.TxOptions{BeginQuery: beginWritingQuery}, fn)
	}
	return pgx.BeginFunc(ctx, db, fn)
}

// LockOutWriters takes writersLockKey exclusively for the rest of tx: it
// returns once every writing transaction in flight has ended, and none starts
// until tx ends.
func LockOutWriters(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(writersLockKey))
	return err
}

type unitKey struct{}

// UnitTx is the transaction of the unit of work ctx runs in (InUnit).
func UnitTx(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := ctx.Value(unitKey{}).(pgx.Tx)
	return tx, ok
}

// InUnit runs fn as one unit of work: one writing transaction, carried in the
// context that fn receives, in which every append, claim and read-model query
// made with that context runs. The HTTP layer uses it to store an
// Idempotency-Key's answer in the same transaction as the command it answers.
// Inside the unit fn must use only the context's transaction.
func InUnit(ctx context.Context, db DB, fn func(context.Context) error) error {
	if _, ok := UnitTx(ctx); ok {
		return fn(ctx)
	}
	hooks := &afterCommit{}
	err := beginWriting(ctx, db, func(tx pgx.Tx) error {
		return fn(context.WithValue(context.WithValue(ctx, unitKey{}, tx), afterCommitKey{}, hooks))
	})
	if err == nil {
		hooks.run(ctx)
	}
	return err
}

type afterCommitKey struct{}

type afterCommit struct {
	mu  sync.Mutex
	fns []func(context.Context)
}

func (a *afterCommit) run(ctx context.Context) {
	a.mu.Lock()
	fns := a.fns
	a.mu.Unlock()
	for _, fn := range fns {
		fn(ctx)
	}
}

// AfterCommit runs fn once what ctx has written is committed: at the end of
// the unit of work ctx runs in (InUnit), with the context the unit began with,
// and never if the unit rolls back; outside a unit, where each command commits
// before it returns, at once. For work outside the database that must not
// follow a write that did not happen.
func AfterCommit(ctx context.Context, fn func(context.Context)) {
	if hooks, ok := ctx.Value(afterCommitKey{}).(*afterCommit); ok {
		hooks.mu.Lock()
		hooks.fns = append(hooks.fns, fn)
		hooks.mu.Unlock()
		return
	}
	fn(ctx)
}
