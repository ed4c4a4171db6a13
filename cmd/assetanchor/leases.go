package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
)

// leasesCommand is `assetanchor leases expire`: it expires every active lease whose
// end date is before today (UTC), or renews it when it has auto_renew (an
// auto-renewal that would overlap another lease expires it instead, and says so).
// Running it again changes nothing more.
func leasesCommand(ctx context.Context, in invocation) error {
	stdout := in.stdout
	return withApp(ctx, in.cfg, in.stderr, func(a *app, _ *pgxpool.Pool) error {
		today := domain.DateOf(time.Now())
		report, err := a.leases.EndDue(ctx, today)
		for _, id := range report.Overlapping {
			fmt.Fprintf(stdout, "lease %s expired instead of renewing: the renewal would overlap another lease\n", id)
		}
		if err != nil {
			// One line on stderr, whatever number of leases failed.
			return fmt.Errorf("expire leases: %d expired, %d renewed, but: %s", report.Expired, report.Renewed,
				strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		fmt.Fprintf(stdout, "%d leases expired, %d renewed (end date before %s)\n", report.Expired, report.Renewed, today)
		return nil
	})
}

// expireDaily expires due leases once at start and then every 24 hours, until ctx
// ends. A failed run is logged and retried at the next tick.
func expireDaily(ctx context.Context, leases *commands.Leases, log *slog.Logger) {
	run := func() {
		today := domain.DateOf(time.Now())
		report, err := leases.EndDue(ctx, today)
		for _, id := range report.Overlapping {
			log.WarnContext(ctx, "auto-renewal would overlap another lease; expired instead", "lease", id)
		}
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "expire leases", "expired", report.Expired, "renewed", report.Renewed, "err", err)
			return
		}
		if report.Expired+report.Renewed > 0 {
			log.InfoContext(ctx, "ended leases", "expired", report.Expired, "renewed", report.Renewed, "before", today.String())
		}
	}
	run()
	everyDay(ctx, run)
}
