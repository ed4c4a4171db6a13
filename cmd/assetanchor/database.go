package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/cmd/internal/pgcluster"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/pguuid"
	"github.com/assetanchor/assetanchor/migrations"
)

// database is the PostgreSQL the binary works on: DATABASE_URL, or the private
// cluster under the data dir. That one is shared by every assetanchor process on
// the data dir: the first starts it, the others (an operator command beside
// serve) attach to it, and close stops it only in the last (pgcluster).
type database struct {
	url     string
	cluster *pgcluster.Cluster
}

// openDatabase opens the database for an operator command; the cluster's lines
// go to stderr as text records.
func openDatabase(ctx context.Context, cfg config, stderr io.Writer) (*database, error) {
	return openDatabaseLogged(ctx, cfg, slog.New(slog.NewTextHandler(stderr, nil)))
}

// openDatabaseLogged opens the database, the cluster's lines going to log.
func openDatabaseLogged(ctx context.Context, cfg config, log *slog.Logger) (*database, error) {
	if cfg.DatabaseURL != "" {
		return &database{url: cfg.DatabaseURL}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// Every process that may start the cluster starts it the same way: WAL
	// archiving on, through a script that pushes once backups are set up.
	bs, err := cfg.backupSettings()
	if err != nil {
		return nil, err
	}
	settings, err := cfg.backupRepo(log).ServerSettings(bs.archiveTimeout)
	if err != nil {
		return nil, err
	}
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{
		Dir:      filepath.Join(cfg.DataDir, "postgres"),
		Fsync:    true,
		Log:      log.With("component", "postgres"),
		Settings: settings,
	})
	if err != nil {
		return nil, err
	}
	return &database{url: cluster.URL(), cluster: cluster}, nil
}

func (d *database) close() error {
	if d.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return d.cluster.Stop(ctx)
}

func (d *database) pool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.MaxConns = eventstore.DefaultMaxConns
	pguuid.Configure(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return pool, nil
}

func (d *database) migrateUp() error {
	m, err := migrations.Open(d.url)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// schemaCurrent reports an error unless the database is at the binary's newest
// migration and clean.
func schemaCurrent(pool *pgxpool.Pool) func(context.Context) error {
	return func(ctx context.Context) error {
		latest, err := migrations.Latest()
		if err != nil {
			return err
		}
		var version int64
		var dirty bool
		if err := pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil {
			return fmt.Errorf("schema version unknown")
		}
		if dirty || uint(version) != latest {
			return fmt.Errorf("schema at %d (dirty %v), binary expects %d", version, dirty, latest)
		}
		return nil
	}
}

// withApp opens the database (starting or attaching to the private cluster), migrates
// it, wires the application and runs fn; everything is closed afterwards.
func withApp(ctx context.Context, cfg config, stderr io.Writer, fn func(a *app, pool *pgxpool.Pool) error) (err error) {
	db, err := openDatabase(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.close(); err == nil {
			err = cerr
		}
	}()
	if err := db.migrateUp(); err != nil {
		return err
	}
	pool, err := db.pool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	keyring, err := openKeyring(ctx, cfg, pool, false, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	a, err := newApp(pool, keyring)
	if err != nil {
		return err
	}
	return fn(a, pool)
}
