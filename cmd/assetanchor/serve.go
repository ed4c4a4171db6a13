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
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/http"
	"github.com/assetanchor/assetanchor/projections"
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
	if (cfg.AdminEmail == "") != (cfg.AdminPassword == "") {
		return usageError("set both ASSETANCHOR_ADMIN_EMAIL and ASSETANCHOR_ADMIN_PASSWORD, or neither")
	}
	db, err := openDatabaseLogged(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.close()) }()
	if err := db.migrateUp(); err != nil {
		return err
	}
	pool, err := db.pool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
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
	// The default partition takes the rows of a month without its own, so a
	// failure here (logged) never stops a write, and must not stop serving.
	if created, err := projections.EnsureAuditPartitions(ctx, pool, time.Now()); err != nil {
		log.ErrorContext(ctx, "ensure audit_logs partitions", "err", err)
	} else if created > 0 {
		log.InfoContext(ctx, "created audit_logs partitions", "created", created)
	}

	keyring, err := openKeyring(ctx, cfg, pool, true, stderr)
	if err != nil {
		return err
	}
	app, err := newApp(pool, keyring)
	if err != nil {
		return err
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

	rent, err := newRentSchedule(app.store, pool, log)
	if err != nil {
		return err
	}
	// Background work and the log's asynchronous consumers stop only after HTTP
	// has drained.
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	var jobs sync.WaitGroup
	consumerDone := make(chan error, 1)
	go func() {
		consumerDone <- projections.NewRuntime(rentScheduleName, pool, rent, log).Run(jobsCtx)
	}()
	for _, job := range []func(context.Context){
		func(ctx context.Context) { expireDaily(ctx, app.leases, log) },
		rent.run,
		func(ctx context.Context) { ensureAuditPartitionsDaily(ctx, pool, log) },
	} {
		jobs.Add(1)
		go func() {
			defer jobs.Done()
			job(jobsCtx)
		}()
	}
	defer func() {
		stopJobs()
		jobs.Wait()
		err = errors.Join(err, <-consumerDone)
	}()

	blobs, err := eventstore.NewLocalBlobs(filepath.Join(cfg.DataDir, "documents"))
	if err != nil {
		return err
	}
	documents, err := commands.NewDocuments(app.store, blobs, app.queries, log)
	if err != nil {
		return err
	}
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	sweepDone := make(chan struct{})
	go func() {
		sweepOrphanBlobs(sweepCtx, documents, log)
		close(sweepDone)
	}()
	defer func() {
		stopSweep()
		<-sweepDone
	}()

	deps := http.Deps{
		Log: log, Pool: pool, Store: app.store, Queries: app.queries,
		Checkpoints: projections.NewCheckpoints(pool), Users: app.users, Properties: app.properties,
		Tenants: app.tenants, Leases: app.leases, Transactions: app.transactions, Maintenance: app.maintenance,
		Documents: documents, Blobs: blobs, MaxUploadBytes: uploads.maxBytes, UploadTypes: uploads.types,
		SchemaCurrent: schemaCurrent(pool), Collector: app.store.Collector(), Keyring: keyring,
		RequestTimeout: requestTimeout, Version: version, // the build's -X name; empty: http reads the build info
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
	queries      *projections.Queries
	users        *commands.Users
	properties   *commands.Properties
	tenants      *commands.Tenants
	leases       *commands.Leases
	transactions *commands.Transactions
	maintenance  *commands.Maintenance
	// keyring holds the master key; nil for operator commands run without one,
	// and then tenants is nil too (keys.go).
	keyring *eventstore.Keyring
}

func newApp(pool *pgxpool.Pool, keyring *eventstore.Keyring) (*app, error) {
	// The relational read model is written inline, in each append's transaction.
	store := eventstore.NewCounted(eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{Keyring: keyring}))
	queries := projections.NewQueries(pool)
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
	if a.maintenance, err = commands.NewMaintenance(store, queries); err != nil {
		return nil, err
	}
	return a, nil
}

// bootstrapAdmin makes sure an administrator exists. With ASSETANCHOR_ADMIN_EMAIL
// and ASSETANCHOR_ADMIN_PASSWORD it creates that account if missing; otherwise, on
// a database without users, it creates one and prints its credentials once.
func bootstrapAdmin(ctx context.Context, users *commands.Users, pool *pgxpool.Pool, cfg config, stdout io.Writer) error {
	if cfg.AdminEmail != "" || cfg.AdminPassword != "" {
		if cfg.AdminEmail == "" || cfg.AdminPassword == "" {
			return usageError("set both ASSETANCHOR_ADMIN_EMAIL and ASSETANCHOR_ADMIN_PASSWORD, or neither")
		}
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

// ensureAuditPartitionsDaily keeps the coming months' audit_logs partitions
// created (serve created them at start), so that rows never wait in the
// default partition.
func ensureAuditPartitionsDaily(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	everyDay(ctx, func() {
		created, err := projections.EnsureAuditPartitions(ctx, pool, time.Now())
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "ensure audit_logs partitions", "err", err)
			return
		}
		if created > 0 {
			log.InfoContext(ctx, "created audit_logs partitions", "created", created)
		}
	})
}

// everyDay runs run every 24 hours until ctx ends; a failed run logs and waits
// for the next.
func everyDay(ctx context.Context, run func()) {
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

// sweepOrphanBlobs removes, once at start, document bytes that no live document
// references: left by an upload that stopped before its commit, or by a deletion
// whose removal of the bytes did not run. Uploads may run meanwhile; each hash is
// checked under its lock.
func sweepOrphanBlobs(ctx context.Context, documents *commands.Documents, log *slog.Logger) {
	removed, err := documents.SweepBlobs(ctx)
	if err != nil && ctx.Err() == nil {
		log.Error("sweep document bytes", "removed", removed, "err", err)
		return
	}
	if removed > 0 {
		log.Info("removed unreferenced document bytes", "removed", removed)
	}
}
