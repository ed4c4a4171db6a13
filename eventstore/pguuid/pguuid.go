// Package pguuid lets pgx send google/uuid values as the 16 bytes they are.
// Without it pgx takes uuid.UUID for a driver.Valuer and sends each one through
// its text form, parsed back on every call: about a tenth of the CPU of a
// command went there. It imports nothing of ours.
//
// It imports nothing of ours.
package pguuid

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Configure registers the encoding on every connection of the pool, keeping
// any AfterConnect the configuration already has.
func Configure(cfg *pgxpool.Config) {
	previous := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		Register(conn.TypeMap())
		if previous != nil {
			return previous(ctx, conn)
		}
		return nil
	}
}

// Register puts the uuid encoding first among m's encode plans.
func Register(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrap}, m.TryWrapEncodePlanFuncs...)
}

func tryWrap(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	switch value.(type) {
	case uuid.UUID:
		return &plan{}, pgtype.UUID{}, true
	case *uuid.UUID:
		return &pointerPlan{}, pgtype.UUID{}, true
	}
	return nil, nil, false
}

type plan struct{ next pgtype.EncodePlan }

func (p *plan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *plan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgtype.UUID{Bytes: value.(uuid.UUID), Valid: true}, buf)
}

type pointerPlan struct{ next pgtype.EncodePlan }

func (p *pointerPlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *pointerPlan) Encode(value any, buf []byte) ([]byte, error) {
	id := value.(*uuid.UUID)
	if id == nil {
		return p.next.Encode(pgtype.UUID{}, buf) // NULL
	}
	return p.next.Encode(pgtype.UUID{Bytes: *id, Valid: true}, buf)
}
