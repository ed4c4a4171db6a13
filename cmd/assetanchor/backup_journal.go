package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/cmd/internal/backup"
	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
)

// backups is the embedded cluster opened for backup work.
type backups struct {
	cfg    config
	log    *slog.Logger
	repo   *backup.Repo
	db     *database
	pool   *pgxpool.Pool
	server backup.Server
	// journalMu serialises this process's updates of the erasure journal.
	journalMu sync.Mutex
}

// withBackups opens the embedded cluster (starting it or attaching to
// serve's) and runs fn; closing saves the last WAL if this process stops it.
func withBackups(ctx context.Context, cfg config, log *slog.Logger, fn func(*backups) error) (err error) {
	db, err := openDatabaseLogged(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.close()) }()
	pool, err := db.pool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	b := &backups{cfg: cfg, log: log, repo: cfg.backupRepo(log), db: db, pool: pool, server: backup.ServerOf(db.cluster)}
	defer func() {
		if b.repo.Enabled() {
			if ferr := b.flushWAL(context.WithoutCancel(ctx)); ferr != nil {
				log.Warn("switch and archive the last WAL", "err", ferr)
			}
		}
	}()
	return fn(b)
}

// prepare sets pgBackRest up (WAL archiving on), copies any document bytes
// the archive lacks and brings the erasure journal up to date: what a backup
// or a restore needs first.
func (b *backups) prepare(ctx context.Context) error {
	if err := b.repo.Setup(ctx, b.server); err != nil {
		return err
	}
	blobs, err := blobs.NewLocal(filepath.Join(b.cfg.DataDir, "documents"))
	if err != nil {
		return err
	}
	if n, err := b.repo.ArchiveDocuments(ctx, blobs); err != nil {
		return err
	} else if n > 0 {
		b.log.Info("archived document bytes the upload path missed", "copied", n)
	}
	_, err = b.syncErasures(ctx)
	return err
}

// flushWAL switches to a new WAL segment and waits until the one it closed is
// archived, so that nothing written before now is missing from the repository.
func (b *backups) flushWAL(ctx context.Context) error {
	return switchAndWaitArchived(ctx, b.pool, time.Minute)
}

func switchAndWaitArchived(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var segment string
	// At a segment boundary (nothing written since the last switch)
	// pg_walfile_name names the previous, already archived segment.
	if err := pool.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&segment); err != nil {
		return fmt.Errorf("switch WAL: %w", err)
	}
	for {
		var archived, failed string
		if err := pool.QueryRow(ctx, `SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') FROM pg_stat_archiver`).
			Scan(&archived, &failed); err != nil {
			return fmt.Errorf("wait for WAL archiving: %w", err)
		}
		if len(archived) >= 24 && archived[:24] >= segment {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for WAL segment %s to be archived (last archived %q, last failed %q): %w", segment, archived, failed, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPromoted waits until a restored cluster has replayed its WAL up to the
// target and accepts writes.
func (b *backups) waitPromoted(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for {
		var recovering bool
		if err := b.pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovering); err != nil {
			return fmt.Errorf("wait for the restored database to replay its WAL: %w", err)
		}
		if !recovering {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the restored database to replay its WAL (server log: %s.log): %w", b.repo.ClusterDir, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var _ commands.ErasureJournal = (*backups)(nil)

// Record is serve's erasure journal (commands.ErasureJournal): the journal is
// brought up to date as each erasure commits, and the tenant must then be in
// it. The sync every minute and before each backup and restore stays as the
// safety net.
func (b *backups) Record(ctx context.Context, tenantID uuid.UUID) error {
	if _, err := b.syncErasures(ctx); err != nil {
		return err
	}
	journal, err := b.repo.Erasures()
	if err != nil {
		return err
	}
	for _, e := range journal {
		if e.TenantID == tenantID {
			return nil
		}
	}
	return fmt.Errorf("record the erasure of tenant %s: the event log has none", tenantID)
}

// syncErasures appends to the journal every erasure the event log records
// and the journal lacks, and purges the archived bytes of the files only
// erased tenants had. It returns how many entries it added. This process's
// syncs take turns, so that they do not append the same entry twice.
func (b *backups) syncErasures(ctx context.Context) (int, error) {
	b.journalMu.Lock()
	defer b.journalMu.Unlock()
	pool, repo := b.pool, b.repo
	journal, err := repo.Erasures()
	if err != nil {
		return 0, err
	}
	known := map[uuid.UUID]bool{}
	for _, e := range journal {
		known[e.TenantID] = true
	}
	rows, err := pool.Query(ctx, `
		SELECT stream_id, min(recorded_at) FROM events
		WHERE stream_type = $1 AND event_type = $2
		GROUP BY stream_id ORDER BY 2`, domain.TenantStreamType, (domain.TenantPersonalDataErased{}).EventType())
	if err != nil {
		return 0, fmt.Errorf("read erasures: %w", err)
	}
	var added []backup.Erasure
	for rows.Next() {
		var stream string
		var at time.Time
		if err := rows.Scan(&stream, &at); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read erasures: %w", err)
		}
		id, err := eventstore.ParseStreamID(stream)
		if err != nil {
			rows.Close()
			return 0, err
		}
		if !known[id.ID] {
			added = append(added, backup.Erasure{TenantID: id.ID, ErasedAt: at.UTC()})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read erasures: %w", err)
	}
	files, err := erasedOnlyFiles(ctx, pool)
	if err != nil {
		return 0, err
	}
	for i := range added {
		added[i].Documents = files[added[i].TenantID]
	}
	if err := repo.AppendErasures(added); err != nil {
		return 0, err
	}
	var purge []string
	for _, keys := range files {
		purge = append(purge, keys...)
	}
	if _, err := repo.PurgeDocuments(purge); err != nil {
		return 0, err
	}
	return len(added), nil
}

// erasedOnlyFiles lists, per erased tenant, the content hashes of its
// documents that no document of anything else ever had.
func erasedOnlyFiles(ctx context.Context, pool *pgxpool.Pool) (map[uuid.UUID][]string, error) {
	rows, err := pool.Query(ctx, `
		WITH erased AS (
			SELECT DISTINCT stream_id FROM events WHERE stream_type = $1 AND event_type = $2),
		uploads AS (
			SELECT payload->>'content_hash' AS hash, payload->>'entity_id' AS tenant,
			       payload->>'entity_type' = 'tenant' AND $1 || '-' || (payload->>'entity_id') IN (SELECT stream_id FROM erased) AS erased
			FROM events WHERE stream_type = $3 AND event_type = $4)
		SELECT DISTINCT tenant, hash FROM uploads u WHERE erased
		AND NOT EXISTS (SELECT 1 FROM uploads o WHERE o.hash = u.hash AND NOT o.erased)`,
		domain.TenantStreamType, (domain.TenantPersonalDataErased{}).EventType(),
		domain.DocumentStreamType, (domain.DocumentUploaded{}).EventType())
	if err != nil {
		return nil, fmt.Errorf("read erased tenants' files: %w", err)
	}
	defer rows.Close()
	out := map[uuid.UUID][]string{}
	for rows.Next() {
		var tenant, hash string
		if err := rows.Scan(&tenant, &hash); err != nil {
			return nil, fmt.Errorf("read erased tenants' files: %w", err)
		}
		id, err := uuid.Parse(tenant)
		if err != nil {
			return nil, fmt.Errorf("read erased tenants' files: %w", err)
		}
		out[id] = append(out[id], hash)
	}
	return out, rows.Err()
}
