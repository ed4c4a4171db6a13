package commands

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// An update inside a transaction that loses its append race does not try again in
// that transaction, whose id is older than the winner's: atomically runs the
// whole transaction again, so that the stream's versions carry ever later
// transaction ids, the order in which projectors read the log. With If-Match the
// lost race is the caller's 412, at once.
func TestLostRaceInATransactionRunsItAgain(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	id := uuid.New()
	stream := userStream(id)
	if _, err := store.Append(ctx, stream, 0, toNew([]domain.Event{&domain.UserRegistered{
		UserID: id, Email: "racer@example.com", PasswordHash: "x", Role: domain.RoleUser,
	}})...); err != nil {
		t.Fatal(err)
	}
	// change updates the phone inside a transaction. On its first run it writes
	// first (so the transaction has its id), then another command changes the
	// user and commits: the update loses the race.
	change := func(ifMatch *int64) (runs int, err error) {
		err = atomically(ctx, store, func(tx eventstore.Store) error {
			runs++
			_, err := update(ctx, tx, stream, ifMatch, newUser, allowAll[*domain.User],
				func(u *domain.User) ([]domain.Event, error) {
					if runs == 1 {
						if err := tx.Claim(ctx, "test", uuid.NewString(), stream); err != nil {
							return nil, err
						}
						if _, err := store.Append(ctx, stream, u.Version(), toNew([]domain.Event{&domain.UserDeactivated{}})...); err != nil {
							return nil, err
						}
					}
					p := u.Profile()
					p.Phone = uuid.NewString()[:8]
					return u.ChangeProfile(p)
				})
			return err
		})
		return runs, err
	}

	runs, err := change(nil)
	if err != nil || runs != 2 {
		t.Fatalf("without If-Match: %d runs, err %v; want 2 runs and success", runs, err)
	}
	events, err := store.ReadStream(ctx, stream, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for i, e := range events {
		types = append(types, e.Type)
		if i > 0 && e.TransactionID <= events[i-1].TransactionID {
			t.Errorf("version %d has transaction id %d, not after version %d's %d: projectors would apply them out of order",
				e.Version, e.TransactionID, events[i-1].Version, events[i-1].TransactionID)
		}
	}
	if want := []string{"UserRegistered", "UserDeactivated", "UserProfileChanged"}; len(types) != len(want) ||
		types[1] != want[1] || types[2] != want[2] {
		t.Errorf("stream = %v, want %v", types, want)
	}
	var claims int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM unique_claims WHERE scope = 'test'`).Scan(&claims); err != nil {
		t.Fatal(err)
	}
	if claims != 0 {
		t.Errorf("the lost run's claim was kept (%d claims): its transaction must be undone whole", claims)
	}

	version := int64(3) // current: the race, not the header, is what fails
	runs, err = change(&version)
	if !errors.Is(err, domain.ErrPreconditionFailed) || runs != 1 {
		t.Errorf("with If-Match: %d runs, err %v; want 1 run and ErrPreconditionFailed", runs, err)
	}
}
