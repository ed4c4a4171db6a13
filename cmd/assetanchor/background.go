package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/assetanchor/assetanchor/cmd/internal/jobs"
	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/eventstore/relay"
	"github.com/assetanchor/assetanchor/projections"
)

// The background jobs, each run by one node at a time under a lease of this
// name (job_leases; assetanchor_job_lease_holder in /metrics).
const (
	jobRentSchedule    = "rent-schedule"
	jobLeaseExpiry     = "lease-expiry"
	jobAuditPartitions = "audit-partitions"
	jobBlobSweep       = "blob-sweep"
	jobEventRelay      = "event-relay"
	jobBackups         = "backups"
	jobAnchors         = "anchors"
)

// background is serve's background work: jobs under leases and, with
// ASSETANCHOR_NATS_URL, the event relay.
type background struct {
	pool   *pgxpool.Pool
	leases *jobs.Leases
	relay  *relay.Relay // nil without ASSETANCHOR_NATS_URL
	// backups is the embedded cluster's backup schedule; nil with DATABASE_URL.
	backups *backupScheduler
	nc      *nats.Conn
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startBackground starts every job; each runs where this node holds its lease.
// They outlive ctx until stop, so that HTTP drains first.
func startBackground(ctx context.Context, cfg config, pool *pgxpool.Pool, a *app, documents *commands.Documents,
	backups *backupScheduler, log *slog.Logger) (*background, error) {
	ttl, err := cfg.jobLeaseTTL()
	if err != nil {
		return nil, err
	}
	leases, err := jobs.NewLeases(pool, jobs.NodeID(cfg.NodeID), ttl, log)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "node", "node", leases.Node())
	rent, err := newRentSchedule(a.store, pool, log)
	if err != nil {
		return nil, err
	}
	anchors, err := newAnchorSchedule(cfg, pool, log)
	if err != nil {
		return nil, err
	}
	b := &background{pool: pool, leases: leases, backups: backups}
	all := map[string]func(context.Context){
		jobRentSchedule: func(ctx context.Context) {
			// The daily run and the consumer that reacts to lease events.
			var wg sync.WaitGroup
			wg.Go(func() { rent.run(ctx) })
			if err := projections.NewRuntime(rentScheduleName, pool, rent, log).Run(ctx); err != nil {
				log.ErrorContext(ctx, "rent schedule consumer", "err", err)
			}
			wg.Wait()
		},
		jobLeaseExpiry: func(ctx context.Context) { expireDaily(ctx, a.leases, log) },
		jobAuditPartitions: func(ctx context.Context) {
			ensureAuditPartitions(ctx, pool, log)
			everyDay(ctx, func() { ensureAuditPartitions(ctx, pool, log) })
		},
		jobBlobSweep: func(ctx context.Context) {
			sweepOrphanBlobs(ctx, documents, log)
			everyDay(ctx, func() { sweepOrphanBlobs(ctx, documents, log) })
		},
	}
	if backups != nil {
		all[jobBackups] = backups.run
	}
	if cfg.NATSURL != "" {
		// A NATS server that is down at start does not stop serve: the
		// client keeps reconnecting, and the relay waits.
		b.nc, err = nats.Connect(cfg.NATSURL, nats.Name("assetanchor "+leases.Node()),
			nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
		if err != nil {
			return nil, fmt.Errorf("connect to ASSETANCHOR_NATS_URL: %w", err)
		}
		js, err := jetstream.New(b.nc)
		if err != nil {
			b.nc.Close()
			return nil, fmt.Errorf("open JetStream: %w", err)
		}
		if b.relay, err = relay.New(relay.Config{Pool: pool, JS: js, Log: log}); err != nil {
			b.nc.Close()
			return nil, err
		}
		all[jobEventRelay] = func(ctx context.Context) {
			if err := b.relay.Run(ctx); err != nil {
				log.ErrorContext(ctx, "event relay", "err", err)
			}
		}
	}
	jobsCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	if anchors != nil {
		all[jobAnchors] = anchors.job(jobsCtx)
	}
	for name, run := range all {
		b.wg.Go(func() { leases.Run(jobsCtx, name, run) })
	}
	return b, nil
}

// stop ends every job (releasing its lease) and closes the NATS connection.
func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
	if b.nc != nil {
		b.nc.Close()
	}
}

// collector adds the jobs' and the relay's metrics to others.
func (b *background) collector(others ...prometheus.Collector) prometheus.Collector {
	cs := append(collectorList{b.leases.Collector()}, others...)
	if b.relay != nil {
		cs = append(cs, b.relay.Collector(), relay.ParkedCollector(b.pool))
	}
	return cs
}

// degraded is /readyz's report of what works but needs an operator: events the
// relay parked, physical backups that do not run.
func (b *background) degraded(ctx context.Context) map[string]string {
	out := map[string]string{}
	if b.backups != nil {
		if why := b.backups.Status(); why != "" {
			out["backups"] = why
		}
	}
	if b.relay == nil {
		return out
	}
	n, err := relay.CountParked(ctx, b.pool)
	switch {
	case err != nil:
		out["relay"] = "parked events unknown"
	case n > 0:
		out["relay"] = fmt.Sprintf("%d events parked (assetanchor projections status)", n)
	}
	return out
}

type collectorList []prometheus.Collector

func (cs collectorList) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		if c != nil {
			c.Describe(ch)
		}
	}
}

func (cs collectorList) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		if c != nil {
			c.Collect(ch)
		}
	}
}

// ensureAuditPartitions keeps the coming months' audit_logs partitions created,
// so that rows never wait in the default partition. The default partition takes
// the rows of a month without its own, so a failure here (logged) stops no write.
func ensureAuditPartitions(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	created, err := projections.EnsureAuditPartitions(ctx, pool, time.Now())
	if err != nil && ctx.Err() == nil {
		log.ErrorContext(ctx, "ensure audit_logs partitions", "err", err)
		return
	}
	if created > 0 {
		log.InfoContext(ctx, "created audit_logs partitions", "created", created)
	}
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

// sweepOrphanBlobs removes document bytes that no live document references:
// left by an upload that stopped before its commit, or by a deletion whose
// removal of the bytes did not run. Uploads may run meanwhile; each hash is
// checked under its lock.
func sweepOrphanBlobs(ctx context.Context, documents *commands.Documents, log *slog.Logger) {
	removed, err := documents.SweepBlobs(ctx)
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		log.Error("sweep document bytes", "removed", removed, "err", err)
		return
	}
	if removed > 0 {
		log.Info("removed unreferenced document bytes", "removed", removed)
	}
}
