package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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
//
// url may go through PgBouncer in transaction mode; direct
// (ASSETANCHOR_DIRECT_DATABASE_URL, default url) is a session of its own, for
// the few steps that need one: the migration lock and an import's staging table.
// replica (ASSETANCHOR_REPLICA_URL) is a streaming replica for queries, or empty.
type database struct {
	url, direct, replica string
	cluster              *pgcluster.Cluster
}

// openDatabase opens the database for an operator command; the cluster's lines
// go to stderr as text records.
func openDatabase(ctx context.Context, cfg config, stderr io.Writer) (*database, error) {
	return openDatabaseLogged(ctx, cfg, slog.New(slog.NewTextHandler(stderr, nil)))
}

// openDatabaseLogged opens the database, the cluster's lines going to log.
func openDatabaseLogged(ctx context.Context, cfg config, log *slog.Logger) (*database, error) {
	if cfg.DatabaseURL != "" {
		return &database{url: cfg.DatabaseURL, direct: cmp.Or(cfg.DirectDatabaseURL, cfg.DatabaseURL),
			replica: cfg.ReplicaURL}, nil
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
	return &database{url: cluster.URL(), direct: cmp.Or(cfg.DirectDatabaseURL, cluster.URL()),
		replica: cfg.ReplicaURL, cluster: cluster}, nil
}

func (d *database) close() error {
	if d.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return d.cluster.Stop(ctx)
}

// pool connects to the database (url), through PgBouncer when a direct URL
// other than it is configured.
func (d *database) pool(ctx context.Context) (*pgxpool.Pool, error) {
	return openPool(ctx, d.url, d.url != d.direct)
}

// directPool connects to the database without a pooler in between.
func (d *database) directPool(ctx context.Context) (*pgxpool.Pool, error) {
	return openPool(ctx, d.direct, false)
}

// replicaPool connects to the replica; nil without one.
func (d *database) replicaPool(ctx context.Context) (*pgxpool.Pool, error) {
	if d.replica == "" {
		return nil, nil
	}
	pool, err := openPool(ctx, d.replica, false)
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	return pool, nil
}

// openPool connects to url. Directly, statements are prepared once per
// connection (pgx's default, QueryExecModeCacheStatement): PostgreSQL parses and
// plans each once. Through a pooler (pooled) they run in QueryExecModeCacheDescribe:
// each is sent as an unnamed statement with its parse, bind and execute in one
// message sequence, its result description cached per connection, so no
// server-side prepared statement outlives a transaction and PgBouncer's
// transaction mode works. Measured through PgBouncer 1.18 with 16 clients
// (cmd/internal/pgbouncer, TestExecModesThroughPgBouncer), it was the only clean
// mode: CacheStatement's named statements collide ("stmtcache_… already
// exists"), DescribeExec binds another client's unnamed statement, Exec and
// SimpleProtocol cannot send jsonb parameters. A default_query_exec_mode in the
// URL wins over both.
func openPool(ctx context.Context, url string, pooled bool) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if pooled && !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
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

// migrateUp migrates over the direct connection: migrations hold a session lock.
func (d *database) migrateUp() error {
	m, err := migrations.Open(d.direct)
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
func withApp(ctx context.Context, cfg config, stderr io.Writer, fn func(a *app, pool *pgxpool.Pool) error) error {
	return withAppOn(ctx, cfg, stderr, false, fn)
}

// withAppOn is withApp, over the direct connection when direct is set.
func withAppOn(ctx context.Context, cfg config, stderr io.Writer, direct bool, fn func(a *app, pool *pgxpool.Pool) error) (err error) {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	db, pool, err := openMigrated(ctx, cfg, log, direct)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.closeWith(pool)) }()
	keyring, err := openKeyring(ctx, cfg, pool, false, log)
	if err != nil {
		return err
	}
	a, err := newApp(pool, keyring)
	if err != nil {
		return err
	}
	return fn(a, pool)
}

// openMigrated opens the database (its cluster's lines going to log), migrates
// it up and opens a pool on it, over the direct connection when direct is set.
// Close both with closeWith.
func openMigrated(ctx context.Context, cfg config, log *slog.Logger, direct bool) (*database, *pgxpool.Pool, error) {
	db, err := openDatabaseLogged(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	open := db.pool
	if direct {
		open = db.directPool
	}
	var pool *pgxpool.Pool
	if err = db.migrateUp(); err == nil {
		pool, err = open(ctx)
	}
	if err != nil {
		return nil, nil, errors.Join(err, db.close())
	}
	return db, pool, nil
}

// closeWith closes pool, then the database.
func (d *database) closeWith(pool *pgxpool.Pool) error {
	pool.Close()
	return d.close()
}
