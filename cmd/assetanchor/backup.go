package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/assetanchor/assetanchor/cmd/internal/backup"
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
