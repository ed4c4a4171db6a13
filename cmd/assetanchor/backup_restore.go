package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/cmd/internal/pgcluster"
	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
)

// restore puts the cluster back as it was at target (zero: the latest), then
// erases again every tenant of the journal and brings back the document bytes
// the restored documents need.
func restore(ctx context.Context, cfg config, target time.Time, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	clusterOpts := pgcluster.Options{Dir: filepath.Join(cfg.DataDir, "postgres"), Fsync: true, Log: log.With("component", "postgres")}
	// Refuse early while serve runs.
	ex, err := pgcluster.AcquireExclusive(ctx, clusterOpts)
	if err != nil {
		return err
	}
	if err := ex.Release(); err != nil {
		return err
	}
	repo := cfg.backupRepo(log)
	// The database about to be replaced: its erasures into the journal, its
	// documents into the archive, its last WAL into the repository.
	err = withBackups(ctx, cfg, log, func(b *backups) error {
		if err := b.prepare(ctx); err != nil {
			return err
		}
		return b.flushWAL(ctx)
	})
	if err != nil {
		log.Warn("could not save the current database's last changes before the restore; restoring anyway", "err", err)
	}
	info, err := repo.Info(ctx)
	if err != nil {
		return err
	}
	from, until := info.Window()
	if from.IsZero() {
		return fmt.Errorf("no backup to restore in %s: run assetanchor backup create first", repo.RepoPath())
	}
	if !target.IsZero() && (target.Before(from) || target.After(until)) {
		return fmt.Errorf("%s is outside the span point-in-time recovery covers, %s to %s (assetanchor backup list)",
			target.Format(time.RFC3339), from.Format(time.RFC3339), until.Format(time.RFC3339))
	}

	ex, err = pgcluster.AcquireExclusive(ctx, clusterOpts)
	if err != nil {
		return err
	}
	started := time.Now()
	err = repo.Restore(ctx, target)
	if rerr := ex.Release(); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	what := "the latest archived moment"
	if !target.IsZero() {
		what = target.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(stdout, "restored the database files to %s in %s; replaying WAL\n", what, time.Since(started).Round(time.Second))

	return withBackups(ctx, cfg, log, func(b *backups) error {
		if err := b.waitPromoted(ctx); err != nil {
			return err
		}
		if err := b.db.migrateUp(); err != nil {
			return err
		}
		keyring, err := openKeyring(ctx, cfg, b.pool, false, log)
		if err != nil {
			return err
		}
		a, err := newApp(b.pool, keyring)
		if err != nil {
			return err
		}
		blobs, err := blobs.NewLocal(filepath.Join(cfg.DataDir, "documents"))
		if err != nil {
			return err
		}
		documents, err := commands.NewDocuments(a.store, blobs, a.queries, log)
		if err != nil {
			return err
		}
		erased, err := b.replayErasures(ctx, a, documents)
		if err != nil {
			return err
		}
		needed, err := claimedBlobs(ctx, b.pool)
		if err != nil {
			return err
		}
		restored, missing, err := repo.RestoreDocuments(ctx, blobs, needed)
		if err != nil {
			return err
		}
		removed, err := documents.SweepBlobs(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "erasures re-applied: %d tenant(s); document files: %d needed, %d restored from the archive, %d not of that moment removed\n",
			erased, len(needed), restored, removed)
		if len(missing) > 0 {
			return fmt.Errorf("the archive lacks the bytes of %d document file(s), first %s", len(missing), missing[0])
		}
		return nil
	})
}

// replayErasures erases again, through the commands, every tenant of the
// journal that the restored database has, and deletes its files; it returns
// how many tenants it erased anew.
func (b *backups) replayErasures(ctx context.Context, a *app, documents *commands.Documents) (int, error) {
	journal, err := b.repo.Erasures()
	if err != nil {
		return 0, err
	}
	if len(journal) > 0 && a.tenants == nil {
		return 0, errors.New("re-apply the erasure journal: no master key is configured (ASSETANCHOR_MASTER_KEY or master.key in the data dir)")
	}
	system := commands.Actor{Role: domain.RoleAdmin}
	n := 0
	for _, e := range journal {
		res, err := a.tenants.Erase(ctx, commands.EraseTenant{Target: commands.Target{Actor: system, ID: e.TenantID}}, documents)
		if errors.Is(err, domain.ErrNotFound) {
			continue // not yet registered at that moment
		}
		if err != nil {
			return n, fmt.Errorf("erase tenant %s again: %w", e.TenantID, err)
		}
		if res.Checkpoint != (eventstore.Checkpoint{}) {
			n++
		}
	}
	if _, err := b.syncErasures(ctx); err != nil {
		return n, err
	}
	return n, nil
}

// claimedBlobs lists the content hashes live documents claim.
func claimedBlobs(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT DISTINCT substr(scope, length($1) + 1) FROM unique_claims WHERE starts_with(scope, $1)`,
		blobs.Scope(""))
	if err != nil {
		return nil, fmt.Errorf("read document claims: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}
