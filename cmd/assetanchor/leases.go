package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
)

// leasesCommand is `assetanchor leases expire`: it expires every active lease whose
// end date is before today (UTC). Running it again expires nothing more.
func leasesCommand(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "expire" {
		return usageError("leases needs expire")
	}
	return withApp(ctx, cfg, stderr, func(a *app, _ *pgxpool.Pool) error {
		today := domain.DateOf(time.Now())
		n, err := a.leases.ExpireDue(ctx, today)
		if err != nil {
			// One line on stderr, whatever number of leases failed.
			return fmt.Errorf("expire leases: %d expired, but: %s", n, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		fmt.Fprintf(stdout, "%d leases expired (end date before %s)\n", n, today)
		return nil
	})
}

// expireDaily expires due leases once at start and then every 24 hours, until ctx
// ends. A failed run is logged and retried at the next tick.
func expireDaily(ctx context.Context, leases *commands.Leases, log *slog.Logger) {
	run := func() {
		today := domain.DateOf(time.Now())
		n, err := leases.ExpireDue(ctx, today)
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "expire leases", "expired", n, "err", err)
			return
		}
		if n > 0 {
			log.InfoContext(ctx, "expired leases", "expired", n, "before", today.String())
		}
	}
	run()
	ticker := time.NewTicker(24 * time.Hour)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			run()
		}
	}
}
