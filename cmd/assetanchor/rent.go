package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// rentCommand is `assetanchor rent post --through DATE`: it posts every rent charge
// due on or before DATE and every late fee whose grace period ended before it, for
// every lease, and voids what terminations dropped. Running it again posts nothing
// more; neither does a run that overlaps another (or serve's schedule).
func rentCommand(fs *flag.FlagSet) runFunc {
	through := fs.String("through", "", "post what is due on or before this `DATE` (YYYY-MM-DD)")
	return func(ctx context.Context, in invocation) error {
		if *through == "" {
			return usageError("rent post needs --through DATE")
		}
		day, err := domain.ParseDate(*through)
		if err != nil {
			return usageError("--through needs a date such as 2025-03-31: " + err.Error())
		}
		return postRent(ctx, in.cfg, day, in.stdout, in.stderr)
	}
}

func postRent(ctx context.Context, cfg config, day domain.Date, stdout, stderr io.Writer) error {
	return withApp(ctx, cfg, stderr, func(a *app, pool *pgxpool.Pool) error {
		rent, err := commands.NewRent(a.store, eventstore.NewPostgresStore(pool))
		if err != nil {
			return err
		}
		started := time.Now()
		report, err := rent.PostDue(ctx, day)
		if err != nil {
			return fmt.Errorf("post rent through %s: %d charges and %d fees posted, but: %s", day,
				report.Charges, report.Fees, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		fmt.Fprintf(stdout, "%d leases: %d rent charges and %d late fees posted, %d charges voided, through %s (%s)\n",
			report.Leases, report.Charges, report.Fees, report.Voided, day, time.Since(started).Round(time.Millisecond))
		return nil
	})
}

// rentSchedule is the rent schedule inside serve: once at start and then every
// day (UTC) it runs over every lease through today (run); in between, as a
// consumer of the event log (projections.Runtime, under rentScheduleName), it
// reacts to the events that change a lease's schedule or late fees, for that
// lease alone (Apply).
type rentSchedule struct {
	rent *commands.Rent
	log  *slog.Logger
	poll time.Duration
	now  func() time.Time
}

// rentScheduleName is the rent schedule's consumer group and checkpoint.
const rentScheduleName = "rent-schedule"

// rentTriggers are the events after which a lease's schedule runs again.
var rentTriggers = map[string]bool{
	"LeaseSigned": true, "LeaseRenewed": true, "LeaseTerminated": true, "LeaseExpired": true,
	"LeaseLateFeePolicySet": true,
}

func newRentSchedule(store eventstore.Store, pool *pgxpool.Pool, log *slog.Logger) (*rentSchedule, error) {
	rent, err := commands.NewRent(store, eventstore.NewPostgresStore(pool))
	if err != nil {
		return nil, err
	}
	return &rentSchedule{rent: rent, log: log, poll: 250 * time.Millisecond, now: time.Now}, nil
}

// run runs every lease's schedule at start and then daily, until ctx ends.
func (s *rentSchedule) run(ctx context.Context) {
	var ranOn domain.Date
	var nextTry time.Time
	ticker := time.NewTicker(s.poll)
	defer ticker.Stop()
	for {
		today := domain.DateOf(s.now())
		if !today.Equal(ranOn) && !s.now().Before(nextTry) {
			if s.runAll(ctx, today) {
				ranOn = today
			} else {
				nextTry = s.now().Add(time.Minute)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// runAll runs every lease's schedule through today; it reports success.
func (s *rentSchedule) runAll(ctx context.Context, today domain.Date) bool {
	report, err := s.rent.PostDue(ctx, today)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "rent schedule", "through", today.String(), "charges", report.Charges,
				"fees", report.Fees, "voided", report.Voided, "err", err)
		}
		return false
	}
	s.log.InfoContext(ctx, "rent schedule", "through", today.String(), "leases", report.Leases,
		"charges", report.Charges, "fees", report.Fees, "voided", report.Voided)
	return true
}

// Apply runs the schedule of the lease an event changed, through today. Its
// charges commit in their own transaction: running a lease's schedule again
// posts nothing twice, so a redelivered event is harmless. A lease that fails
// is logged, not retried here: the next daily run takes it up again.
func (s *rentSchedule) Apply(ctx context.Context, _ pgx.Tx, e eventstore.Event) error {
	if e.Stream.Type != domain.LeaseStreamType || !rentTriggers[e.Type] {
		return nil
	}
	report, err := s.rent.PostLease(ctx, e.Stream.ID, domain.DateOf(s.now()))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.ErrorContext(ctx, "rent schedule", "lease", e.Stream.ID, "after", e.Type, "err", err)
	case report.Charges+report.Fees+report.Voided > 0:
		s.log.InfoContext(ctx, "rent schedule", "lease", e.Stream.ID, "after", e.Type,
			"charges", report.Charges, "fees", report.Fees, "voided", report.Voided)
	}
	return nil
}
