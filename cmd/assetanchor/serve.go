package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/cmd/internal/backup"
	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/http"
	"github.com/assetanchor/assetanchor/projections"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// serve migrates, starts the projectors and serves the API until ctx ends. Then it
// drains HTTP, stops the projectors at a checkpoint, closes the pool and stops the
// private cluster. ready, if given, receives the listening address (tests).
func serve(ctx context.Context, cfg config, stdout, stderr io.Writer, ready func(addr string)) (err error) {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	// The configuration is checked before anything starts, so a mistake in it
	// stops serve without touching the database.
	uploads, err := cfg.uploadLimits()
	if err != nil {
		return err
	}
	requestTimeout, err := cfg.requestTimeout()
	if err != nil {
		return err
	}
	if _, err := cfg.jobLeaseTTL(); err != nil {
		return err
	}
	if _, err := cfg.anchorEvery(); err != nil {
		return err
	}
	if _, err := anchorKey(cfg, false, log); err != nil {
		return err
	}
	backupCfg, err := cfg.backupSettings()
	if err != nil {
		return err
	}
	if (cfg.AdminEmail == "") != (cfg.AdminPassword == "") {
		return usageError("set both ASSETANCHOR_ADMIN_EMAIL and ASSETANCHOR_ADMIN_PASSWORD, or neither")
	}
	db, pool, err := openMigrated(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.closeWith(pool)) }()
	var scheduler *backupScheduler
	if db.cluster != nil {
		repo := cfg.backupRepo(log)
		scheduler = &backupScheduler{
			b:        &backups{cfg: cfg, log: log.With("component", "backup"), repo: repo, db: db, pool: pool, server: backup.ServerOf(db.cluster)},
			settings: backupCfg,
		}
		// Runs after HTTP and the jobs have stopped: the last writes reach the
		// repository before the server stops.
		defer func() {
			if repo.Enabled() {
				if err := switchAndWaitArchived(context.WithoutCancel(ctx), pool, 30*time.Second); err != nil {
					log.Warn("archive the last WAL before stopping", "err", err)
				}
			}
		}()
	}
	// Stored transaction ids ahead of this cluster's (a pg_dump restored into
	// another cluster) would hide every event from the projector, and new events
	// would sort before its checkpoint: refuse before writing anything.
	stalled, err := eventstore.HorizonStalled(ctx, pool)
	if err != nil {
		return err
	}
	if stalled {
		return fmt.Errorf("refuse to serve: %w", eventstore.ErrHorizonStalled)
	}
	keyring, err := openKeyring(ctx, cfg, pool, true, log)
	if err != nil {
		return err
	}
	app, err := newApp(pool, keyring)
	if err != nil {
		return err
	}
	if scheduler != nil && app.tenants != nil {
		// Each erasure reaches the journal beside the backups as it commits.
		app.tenants.WithErasureJournal(scheduler.b, log.With("component", "backup"))
	}
	replica, err := db.replicaPool(ctx)
	if err != nil {
		return err
	}
	if replica != nil {
		defer replica.Close()
		app.queries.WithReplica(replica)
	}
	if err := bootstrapAdmin(ctx, app.users, pool, cfg, stdout); err != nil {
		return err
	}

	local, err := blobs.NewLocal(filepath.Join(cfg.DataDir, "documents"))
	if err != nil {
		return err
	}
	var blobs blobs.Store = local
	if scheduler != nil {
		// Each document's bytes go to the backup dir as they are stored.
		blobs = backup.ArchivingBlobs{Store: local, Repo: scheduler.b.repo, Log: log}
	}
	documents, err := commands.NewDocuments(app.store, blobs, app.queries, log)
	if err != nil {
		return err
	}
	// Background work runs on one node at a time, each job under its lease
	// (background.go), and stops only after HTTP has drained.
	background, err := startBackground(ctx, cfg, pool, app, documents, scheduler, log)
	if err != nil {
		return err
	}
	defer background.stop()

	deps := http.Deps{
		Log: log, Pool: pool, Store: app.store, Queries: app.queries,
		Checkpoints: projections.NewCheckpoints(pool), Users: app.users, Properties: app.properties,
		Tenants: app.tenants, Leases: app.leases, Transactions: app.transactions, Ledger: app.ledger, Maintenance: app.maintenance,
		Documents: documents, Blobs: blobs, MaxUploadBytes: uploads.maxBytes, UploadTypes: uploads.types,
		SchemaCurrent: schemaCurrent(pool), Collector: background.collector(app.store.Collector()), Keyring: keyring,
		RequestTimeout: requestTimeout, Version: version, // the build's -X name; empty: http reads the build info
		Degraded: background.degraded,
	}
	// The console checks integrity against the signed anchors once a key exists
	// (the anchor schedule makes it); before, against the hash chain alone.
	if v, err := anchorVerifier(cfg, pool); err != nil {
		return err
	} else if v != nil {
		deps.Integrity = consoleIntegrity(v)
	}
	if err := cfg.edge(&deps); err != nil {
		return err
	}
	server, err := http.NewServer(deps)
	if err != nil {
		return err
	}
	return server.Run(ctx, cfg.Addr, func(addr string) {
		log.Info("serving", "addr", addr)
		fmt.Fprintf(stdout, "Asset Anchor is serving on http://%s (Ctrl-C stops it)\n", addr)
		if ready != nil {
			ready(addr)
		}
	})
}

// app is the command and query side, wired.
type app struct {
	store        *eventstore.Counted
	queries      *readmodel.Queries
	users        *commands.Users
	properties   *commands.Properties
	tenants      *commands.Tenants
	leases       *commands.Leases
	transactions *commands.Transactions
	ledger       *commands.Ledger
	maintenance  *commands.Maintenance
	// keyring holds the master key; nil for operator commands run without one,
	// and then tenants is nil too (keys.go).
	keyring *tenantkeys.Keyring
}

func newApp(pool *pgxpool.Pool, keyring *tenantkeys.Keyring) (*app, error) {
	// The relational read model is written inline, in each append's transaction.
	store := eventstore.NewCounted(eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{Keyring: keyring}))
	queries := readmodel.NewQueries(pool)
	a := &app{store: store, queries: queries, keyring: keyring}
	var err error
	if a.users, err = commands.NewUsers(store, queries); err != nil {
		return nil, err
	}
	if a.properties, err = commands.NewProperties(store); err != nil {
		return nil, err
	}
	if keyring != nil {
		if a.tenants, err = commands.NewTenants(store, queries, keyring); err != nil {
			return nil, err
		}
	}
	if a.leases, err = commands.NewLeases(store); err != nil {
		return nil, err
	}
	if a.transactions, err = commands.NewTransactions(store); err != nil {
		return nil, err
	}
	if a.ledger, err = commands.NewLedger(store, queries, pool); err != nil {
		return nil, err
	}
	if a.maintenance, err = commands.NewMaintenance(store, queries); err != nil {
		return nil, err
	}
	return a, nil
}

// bootstrapAdmin makes sure an administrator exists. With ASSETANCHOR_ADMIN_EMAIL
// and ASSETANCHOR_ADMIN_PASSWORD it creates that account if missing; otherwise, on
// a database without users, it creates one and prints its credentials once.
func bootstrapAdmin(ctx context.Context, users *commands.Users, pool *pgxpool.Pool, cfg config, stdout io.Writer) error {
	if cfg.AdminEmail != "" { // serve checked that the password is set too
		_, found, err := users.UserIDByEmail(ctx, cfg.AdminEmail)
		if err != nil || found {
			return err
		}
		_, err = users.Create(ctx, commands.CreateUser{Email: cfg.AdminEmail, Password: cfg.AdminPassword, Role: domain.RoleAdmin.String()})
		if err != nil {
			return fmt.Errorf("create the administrator: %w", inputError(err,
				map[string]string{"email": "ASSETANCHOR_ADMIN_EMAIL", "password": "ASSETANCHOR_ADMIN_PASSWORD"}))
		}
		return nil
	}
	var anyUser bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE stream_type = $1)`,
		domain.UserStreamType).Scan(&anyUser); err != nil {
		return fmt.Errorf("look for users: %w", err)
	}
	if anyUser {
		return nil
	}
	secret := make([]byte, 18)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	email, password := "admin@assetanchor.local", base64.RawURLEncoding.EncodeToString(secret)
	if _, err := users.Create(ctx, commands.CreateUser{Email: email, Password: password, Role: domain.RoleAdmin.String()}); err != nil {
		return fmt.Errorf("create first administrator: %w", err)
	}
	fmt.Fprintf(stdout, "Created the first administrator; this is the only time the password is shown:\n  email:    %s\n  password: %s\n", email, password)
	return nil
}
