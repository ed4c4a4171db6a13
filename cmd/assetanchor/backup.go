package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/cmd/internal/backup"
	"github.com/assetanchor/assetanchor/cmd/internal/pgcluster"
	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// Physical backups of the embedded cluster with pgBackRest (cmd/internal/backup),
// and what must come back with them: document bytes and erasures.

// errOperatorsDatabase is the one line the backup commands answer with
// DATABASE_URL set (exit status 2).
const errOperatorsDatabase = usageError("with DATABASE_URL set the database is the operator's: back it up with its own tools " +
	"(docs/operations.md shows a pgBackRest configuration); assetanchor backup works on the embedded cluster only")

// backupSettings is the schedule and retention serve applies.
type backupSettings struct {
	fullEvery, incrementalEvery time.Duration // 0: not scheduled
	policy                      backup.Policy
	archiveTimeout              time.Duration
}

// backupSettings parses the ASSETANCHOR_BACKUP_* variables and
// ASSETANCHOR_ARCHIVE_TIMEOUT.
func (c config) backupSettings() (backupSettings, error) {
	s := backupSettings{
		fullEvery: 24 * time.Hour, incrementalEvery: 6 * time.Hour,
		policy: backup.DefaultPolicy, archiveTimeout: backup.DefaultArchiveTimeout,
	}
	duration := func(name string, into *time.Duration, min time.Duration, zeroOK bool) error {
		raw := strings.TrimSpace(c.Backup[name])
		if raw == "" {
			return nil
		}
		d, err := time.ParseDuration(raw)
		if raw == "0" && zeroOK {
			d, err = 0, nil
		}
		if err != nil || (d < min && !(zeroOK && d == 0)) {
			return usageError(name + " must be a duration of at least " + min.String() + ", such as 6h" +
				map[bool]string{true: ", or 0 to turn it off", false: ""}[zeroOK])
		}
		*into = d
		return nil
	}
	count := func(name string, into *int) error {
		raw := strings.TrimSpace(c.Backup[name])
		if raw == "" {
			return nil
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > 10000 {
			return usageError(name + " must be a number of backups from 0 to 10000")
		}
		*into = n
		return nil
	}
	return s, errors.Join(
		duration("ASSETANCHOR_BACKUP_FULL_EVERY", &s.fullEvery, time.Minute, true),
		duration("ASSETANCHOR_BACKUP_INCREMENTAL_EVERY", &s.incrementalEvery, time.Minute, true),
		duration("ASSETANCHOR_BACKUP_PITR_WINDOW", &s.policy.PITR, 0, true),
		duration("ASSETANCHOR_ARCHIVE_TIMEOUT", &s.archiveTimeout, 10*time.Second, false),
		count("ASSETANCHOR_BACKUP_KEEP_DAILY", &s.policy.Daily),
		count("ASSETANCHOR_BACKUP_KEEP_WEEKLY", &s.policy.Weekly),
		count("ASSETANCHOR_BACKUP_KEEP_MONTHLY", &s.policy.Monthly),
	)
}

func (c config) backupRepo(log *slog.Logger) *backup.Repo {
	return &backup.Repo{
		DataDir: c.DataDir, Dir: c.BackupDir, ClusterDir: filepath.Join(c.DataDir, "postgres"),
		Log: log.With("component", "backup"),
	}
}

// backupCreateCommand is `assetanchor backup create [--full|--incremental]`.
func backupCreateCommand(fs *flag.FlagSet) runFunc {
	full := fs.Bool("full", false, "a full backup (the default when none exists yet)")
	incremental := fs.Bool("incremental", false, "only what changed since the last backup (the default after the first)")
	return func(ctx context.Context, in invocation) error {
		if in.cfg.DatabaseURL != "" {
			return errOperatorsDatabase
		}
		if *full && *incremental {
			return usageError("--full and --incremental exclude each other")
		}
		if _, err := backup.Binary(); err != nil {
			return err
		}
		typ := backup.Incremental
		if *full {
			typ = backup.Full
		}
		log := slog.New(slog.NewTextHandler(in.stderr, nil))
		return withBackups(ctx, in.cfg, log, func(b *backups) error {
			if err := b.prepare(ctx); err != nil {
				return err
			}
			started := time.Now()
			set, err := b.repo.Create(ctx, b.server, typ)
			if err != nil {
				return err
			}
			fmt.Fprintf(in.stdout, "backup %s (%s) taken in %s: %s of database, %s in the repository %s\n",
				set.Label, typeName(set.Type), time.Since(started).Round(time.Second), bytesize(set.Size), bytesize(set.RepoSize), b.repo.RepoPath())
			return nil
		})
	}
}

// backupListCommand is `assetanchor backup list`.
func backupListCommand(ctx context.Context, in invocation) error {
	if in.cfg.DatabaseURL != "" {
		return errOperatorsDatabase
	}
	if _, err := backup.Binary(); err != nil {
		return err
	}
	repo := in.cfg.backupRepo(slog.New(slog.NewTextHandler(in.stderr, nil)))
	info, err := repo.Info(ctx)
	if err != nil {
		return err
	}
	if len(info.Sets) == 0 {
		fmt.Fprintf(in.stdout, "no backups in %s\n", repo.RepoPath())
		return nil
	}
	w := tabwriter.NewWriter(in.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "LABEL\tTYPE\tSTART\tEND\tSIZE\tIN REPOSITORY")
	for _, s := range info.Sets {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Label, typeName(s.Type),
			s.Start.Format(time.RFC3339), s.Stop.Format(time.RFC3339), bytesize(s.Size), bytesize(s.RepoSize))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if from, to := info.Window(); !from.IsZero() {
		fmt.Fprintf(in.stdout, "point-in-time recovery: from %s to %s (backup restore --to T)\n",
			from.Format(time.RFC3339), to.Format(time.RFC3339))
	} else {
		fmt.Fprintln(in.stdout, "point-in-time recovery: none (no backup with its WAL archived)")
	}
	return nil
}

// backupRestoreCommand is `assetanchor backup restore [--to T]`.
func backupRestoreCommand(fs *flag.FlagSet) runFunc {
	to := fs.String("to", "", "the moment to restore, RFC 3339 (default: the latest archived)")
	return func(ctx context.Context, in invocation) error {
		if in.cfg.DatabaseURL != "" {
			return errOperatorsDatabase
		}
		var target time.Time
		if *to != "" {
			t, err := time.Parse(time.RFC3339Nano, *to)
			if err != nil {
				return usageError("--to must be a time in RFC 3339, such as 2025-03-31T12:00:00Z")
			}
			target = t
		}
		if _, err := backup.Binary(); err != nil {
			return err
		}
		if err := restore(ctx, in.cfg, target, in.stdout, in.stderr); err != nil {
			return err
		}
		// The restored database is checked as any other: the hash chains, then
		// the read model against a rebuild.
		auditErr := auditCommand(ctx, in)
		verifyErr := verifyCommand(ctx, in)
		if err := errors.Join(auditErr, verifyErr); err != nil {
			return fmt.Errorf("restored, but a check failed: %w", err)
		}
		fmt.Fprintln(in.stdout, "restore done: audit verify and projections verify pass")
		return nil
	}
}

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
		blobs, err := eventstore.NewLocalBlobs(filepath.Join(cfg.DataDir, "documents"))
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
	blobs, err := eventstore.NewLocalBlobs(filepath.Join(b.cfg.DataDir, "documents"))
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
		res, err := a.tenants.Erase(ctx, commands.EraseTenant{Actor: system, ID: e.TenantID})
		if errors.Is(err, domain.ErrNotFound) {
			continue // not yet registered at that moment
		}
		if err != nil {
			return n, fmt.Errorf("erase tenant %s again: %w", e.TenantID, err)
		}
		if _, err := documents.DeleteErasedTenantFiles(ctx, e.TenantID); err != nil {
			return n, fmt.Errorf("delete the files of erased tenant %s: %w", e.TenantID, err)
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
		eventstore.BlobScope(""))
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

// backupScheduler is serve's backup work: set-up, the schedule, retention and
// the erasure journal. Status is what /readyz shows.
type backupScheduler struct {
	b        *backups
	settings backupSettings

	mu     sync.Mutex
	reason string
}

// Status is "" while backups run, else why not (one line).
func (s *backupScheduler) Status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

func (s *backupScheduler) setReason(why string) {
	s.mu.Lock()
	s.reason = why
	s.mu.Unlock()
}

// run sets backups up, then every minute takes what is due and applies the
// retention; failures are logged and retried.
func (s *backupScheduler) run(ctx context.Context) {
	log := s.b.log
	var info backup.Info
	ready := false
	tick := time.NewTimer(0)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tick.Reset(time.Minute)
		if !ready {
			if err := s.b.prepare(ctx); err != nil {
				if why := "backups off: " + firstLine(err.Error()); ctx.Err() == nil && why != s.Status() {
					s.setReason(why)
					log.Warn("physical backups are off; serving goes on (retrying every minute)", "err", err)
				}
				continue
			}
			var err error
			if info, err = s.b.repo.Info(ctx); err != nil {
				s.setReason("backups: " + firstLine(err.Error()))
				continue
			}
			ready = true
			s.setReason("")
			log.Info("physical backups on: WAL archiving to pgBackRest", "repository", s.b.repo.RepoPath())
		}
		if _, err := s.b.syncErasures(ctx); err != nil && ctx.Err() == nil {
			log.Error("update the erasure journal", "err", err)
		}
		typ, due := dueBackup(info, time.Now(), s.settings)
		if !due {
			continue
		}
		if err := s.take(ctx, typ, &info); err != nil && ctx.Err() == nil {
			s.setReason("backups: last " + typeName(typ) + " backup failed: " + firstLine(err.Error()))
			log.Error("scheduled backup", "type", typeName(typ), "err", err)
			continue
		}
		s.setReason("")
	}
}

// take takes one backup, then applies the retention.
func (s *backupScheduler) take(ctx context.Context, typ backup.Type, info *backup.Info) error {
	if err := s.b.prepare(ctx); err != nil {
		return err
	}
	started := time.Now()
	set, err := s.b.repo.Create(ctx, s.b.server, typ)
	if err != nil {
		return err
	}
	s.b.log.Info("backup taken", "label", set.Label, "type", typeName(set.Type), "elapsed", time.Since(started).Round(time.Second), "size", set.Size)
	plan, after, err := applyRetention(ctx, s.b.repo, time.Now(), s.settings.policy)
	*info = after
	if err != nil {
		return err
	}
	if len(plan.Expire) > 0 {
		s.b.log.Info("expired backups past retention", "sets", plan.Expire, "kept", len(plan.Keep))
	}
	return nil
}

// applyRetention is serve's retention step after each backup: it selects the
// sets policy keeps at now, expires the others and the WAL no kept moment
// needs, and returns the plan and the repository as it is afterwards.
func applyRetention(ctx context.Context, repo *backup.Repo, now time.Time, policy backup.Policy) (backup.Plan, backup.Info, error) {
	info, err := repo.Info(ctx)
	if err != nil {
		return backup.Plan{}, info, err
	}
	plan := backup.Select(info.Sets, now, policy)
	if err := repo.Expire(ctx, plan.Expire, plan.KeepWAL); err != nil {
		return plan, info, err
	}
	info, err = repo.Info(ctx)
	return plan, info, err
}

// dueBackup says which backup the schedule wants now: a full one when none was
// started within fullEvery, else an incremental when none was within
// incrementalEvery.
func dueBackup(info backup.Info, now time.Time, s backupSettings) (backup.Type, bool) {
	var lastFull, last time.Time
	for _, set := range info.Sets {
		if set.Type == backup.Full && set.Start.After(lastFull) {
			lastFull = set.Start
		}
		if set.Start.After(last) {
			last = set.Start
		}
	}
	if s.fullEvery > 0 && (lastFull.IsZero() || now.Sub(lastFull) >= s.fullEvery) {
		return backup.Full, true
	}
	if s.incrementalEvery > 0 && !last.IsZero() && now.Sub(last) >= s.incrementalEvery {
		return backup.Incremental, true
	}
	return "", false
}

func typeName(t backup.Type) string {
	switch t {
	case backup.Full:
		return "full"
	case backup.Incremental:
		return "incremental"
	case "diff":
		return "differential"
	}
	return string(t)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// bytesize is n bytes for people: 512 B, 3.2 MiB.
func bytesize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
