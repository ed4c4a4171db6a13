package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
)

// listQuery builds a keyset-paginated list: the rows that meet every condition,
// after the cursor in key order, one more than a page holds (pageOf).
type listQuery struct {
	where []string
	args  sqlArgs
}

// newList starts a list with the condition that decides what the viewer may
// see and that condition's arguments ($1, $2, ...).
func newList(visible string, args ...any) *listQuery {
	return &listQuery{where: []string{visible}, args: sqlArgs(args)}
}

// and adds a condition with no arguments, or with the placeholders of args
// (its %s verbs, in order).
func (l *listQuery) and(cond string, args ...any) {
	placeholders := make([]any, len(args))
	for i, a := range args {
		placeholders[i] = l.args.add(a)
	}
	if len(args) > 0 {
		cond = fmt.Sprintf(cond, placeholders...)
	}
	l.where = append(l.where, cond)
}

// keyset is the order a list pages in: a time column, then an id column. A DATE
// first column (date) carries its date in the cursor's time.
type keyset struct {
	at, id string
	date   bool
}

// byCreated orders by creation, the order of most lists; table is the alias ("t.").
func byCreated(table string) keyset { return keyset{at: table + "created_at", id: table + "id"} }

// listPage reads one page of l: selectFrom is the query up to WHERE, cursor the
// client's (empty for the first page), keyOf a row's key for the next cursor,
// what names the list in errors.
func listPage[T any](ctx context.Context, q *Queries, l *listQuery, selectFrom string, key keyset, cursor string, limit int,
	scan pgx.RowToFunc[T], keyOf func(T) (time.Time, uuid.UUID), what string) (Page[T], error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return Page[T]{}, err
	}
	if after != nil {
		var at any = after.CreatedAt
		if key.date {
			at = domain.DateOf(after.CreatedAt)
		}
		l.and("("+key.at+", "+key.id+") > (%s, %s)", at, after.ID)
	}
	rows, err := q.pool.Query(ctx, selectFrom+` WHERE `+strings.Join(l.where, " AND ")+
		` ORDER BY `+key.at+`, `+key.id+` LIMIT `+l.args.add(limit+1), l.args...)
	if err != nil {
		return Page[T]{}, fmt.Errorf("%s: %w", what, err)
	}
	items, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return Page[T]{}, fmt.Errorf("%s: %w", what, err)
	}
	return pageOf(items, limit, func(item T) *string { return encodeCursor(keyOf(item)) }), nil
}

// collectOne reads the one row of a query for one entity (rows, err as Query
// returned them): domain.ErrNotFound when there is none, which is also what a
// row the viewer may not see looks like.
func collectOne[T any](rows pgx.Rows, err error, scan pgx.RowToFunc[T], what string) (T, error) {
	var zero T
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, domain.ErrNotFound
	}
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}
