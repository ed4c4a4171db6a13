// Package idempotency keeps the answers of requests sent with an
// Idempotency-Key (idempotency_keys), in the transaction of the command they
// answer, so a retry gets the first answer. It must not import commands,
// projections or http.
package idempotency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrKeyReused means the key was used with a different request.
var ErrKeyReused = errors.New("the idempotency key was used with a different request")

// Answer is a stored answer: its status, the headers kept, and its body.
type Answer struct {
	Status int
	Header map[string]string
	Body   []byte
}

// Reserve claims user's key for the request identified by hash, in tx: nil
// when the request is to run (its row now waits for Store, and a concurrent
// repeat waits on the row), else the answer stored within window.
func Reserve(ctx context.Context, tx pgx.Tx, user uuid.UUID, key string, hash []byte, window time.Duration) (*Answer, error) {
	for range 2 {
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash)
			VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, user, key, hash)
		if err != nil {
			return nil, fmt.Errorf("reserve idempotency key: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil, nil
		}
		var (
			storedHash, header, body []byte
			status                   *int
			createdAt                time.Time
		)
		err = tx.QueryRow(ctx, `SELECT request_hash, status, header, body, created_at
			FROM idempotency_keys WHERE user_id = $1 AND key = $2`, user, key).
			Scan(&storedHash, &status, &header, &body, &createdAt)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // removed meanwhile; reserve again
		}
		if err != nil {
			return nil, fmt.Errorf("read idempotency key: %w", err)
		}
		if time.Since(createdAt) > window || status == nil {
			// Expired, or left by the old code before units of work: take it over.
			if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2`, user, key); err != nil {
				return nil, fmt.Errorf("drop expired idempotency key: %w", err)
			}
			continue
		}
		if !bytes.Equal(storedHash, hash) {
			return nil, ErrKeyReused
		}
		a := &Answer{Status: *status, Body: body}
		if err := json.Unmarshal(header, &a.Header); err != nil {
			return nil, fmt.Errorf("decode stored headers: %w", err)
		}
		return a, nil
	}
	return nil, errors.New("reserve idempotency key: it keeps changing")
}

// Store keeps a's answer for user's reserved key, in the reserving tx.
func Store(ctx context.Context, tx pgx.Tx, user uuid.UUID, key string, a Answer) error {
	h, err := json.Marshal(a.Header)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE idempotency_keys SET status = $3, header = $4, body = $5
		WHERE user_id = $1 AND key = $2`, user, key, a.Status, h, a.Body); err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}
