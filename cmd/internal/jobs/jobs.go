// Package jobs runs background work on one node of a deployment at a time. Each
// job has a lease, a row of job_leases that its holder renews; when the holder
// stops renewing (it died, or lost the database), the lease expires and another
// node takes the job over. The lease is a row, not a session advisory lock, so
// that it holds through PgBouncer in transaction pooling mode. Jobs must stay
// idempotent regardless: a holder that stalls past its lease may overlap its
// successor for a moment.
//
// It must not import domain, commands, projections or http.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultTTL is how long a lease lasts unless renewed. A job whose holder died
// moves to another node within TTL plus one renewal interval (TTL/3).
const DefaultTTL = 15 * time.Second

// NodeID names this process among the deployment's nodes: id if given, else the
// host name and a random suffix (a restarted node is a new holder).
func NodeID(id string) string {
	if id != "" {
		return id
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return host + "-" + hex.EncodeToString(suffix)
}

// Leases runs jobs under leases held by one node.
type Leases struct {
	pool *pgxpool.Pool
	node string
	ttl  time.Duration
	log  *slog.Logger
}

// NewLeases holds leases as node, each for ttl (0: DefaultTTL).
func NewLeases(pool *pgxpool.Pool, node string, ttl time.Duration, log *slog.Logger) (*Leases, error) {
	if pool == nil || node == "" || log == nil {
		return nil, errors.New("jobs: NewLeases needs a pool, a node id and a logger")
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 300*time.Millisecond {
		return nil, fmt.Errorf("jobs: a lease of %s is too short", ttl)
	}
	return &Leases{pool: pool, node: node, ttl: ttl, log: log}, nil
}

// Node is this node's id.
func (l *Leases) Node() string { return l.node }

// Run runs job whenever this node holds its lease, until ctx ends. The job's
// context ends when the lease is lost; the job is started again if the lease
// comes back. A job that returns on its own releases the lease and is done.
func (l *Leases) Run(ctx context.Context, job string, run func(context.Context)) {
	every := l.ttl / 3
	for {
		held, err := l.take(ctx, job)
		if err != nil && ctx.Err() == nil {
			l.log.WarnContext(ctx, "take job lease", "job", job, "node", l.node, "err", err)
		}
		if held {
			l.log.InfoContext(ctx, "job lease taken", "job", job, "node", l.node)
			if done := l.hold(ctx, job, run, every); done {
				return
			}
			l.log.WarnContext(ctx, "job lease lost", "job", job, "node", l.node)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// hold runs job while renewing its lease. It reports whether the job is over
// (ctx ended or the job returned) rather than the lease lost.
func (l *Leases) hold(ctx context.Context, job string, run func(context.Context), every time.Duration) bool {
	jobCtx, stop := context.WithCancel(ctx)
	defer stop()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		run(jobCtx)
	}()
	renewed := time.Now()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-finished:
			l.release(job)
			return true
		case <-ticker.C:
			held, err := l.take(jobCtx, job)
			if err == nil && held {
				renewed = time.Now()
				continue
			}
			// A renewal that fails for a moment keeps the job, but never past
			// the lease it last confirmed: by then another node may have it.
			if err != nil && time.Since(renewed) < l.ttl-every && ctx.Err() == nil {
				l.log.WarnContext(ctx, "renew job lease", "job", job, "node", l.node, "err", err)
				continue
			}
			stop()
			<-finished
			if ctx.Err() != nil {
				l.release(job)
				return true
			}
			return false
		}
	}
}

// take acquires or renews the lease of job; the database's clock decides
// expiry, so the nodes' clocks need not agree.
func (l *Leases) take(ctx context.Context, job string) (bool, error) {
	var holder string
	err := l.pool.QueryRow(ctx, `INSERT INTO job_leases AS l (job, holder, expires_at)
		VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
		ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
			acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE clock_timestamp() END
		WHERE l.holder = excluded.holder OR l.expires_at < clock_timestamp()
		RETURNING holder`, job, l.node, l.ttl.Milliseconds()).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take lease of %s: %w", job, err)
	}
	return true, nil
}

// release gives the lease up at once, so that another node need not wait for it
// to expire.
func (l *Leases) release(job string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.pool.Exec(ctx, `DELETE FROM job_leases WHERE job = $1 AND holder = $2`, job, l.node); err != nil {
		l.log.Warn("release job lease", "job", job, "node", l.node, "err", err)
	}
}

// Holder is who holds a job's lease.
type Holder struct {
	Job, Node string
	Since     time.Time
	Expires   time.Time
}

// Holders lists the leases not yet expired.
func Holders(ctx context.Context, pool *pgxpool.Pool) ([]Holder, error) {
	rows, err := pool.Query(ctx, `SELECT job, holder, acquired_at, expires_at FROM job_leases
		WHERE expires_at >= clock_timestamp() ORDER BY job`)
	if err != nil {
		return nil, fmt.Errorf("list job leases: %w", err)
	}
	holders, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Holder, error) {
		var h Holder
		err := row.Scan(&h.Job, &h.Node, &h.Since, &h.Expires)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("list job leases: %w", err)
	}
	return holders, nil
}

// Collector reports, on every node, which node holds which job
// (assetanchor_job_lease_holder{job, node} 1) and which node answers
// (assetanchor_node_info{node} 1).
func (l *Leases) Collector() prometheus.Collector { return collector{l} }

type collector struct{ l *Leases }

var (
	holderDesc = prometheus.NewDesc("assetanchor_job_lease_holder",
		"1 for the node that holds the lease of a background job (rent schedule, lease expiry, partition upkeep, blob sweep, event relay, anchors).",
		[]string{"job", "node"}, nil)
	nodeDesc = prometheus.NewDesc("assetanchor_node_info",
		"Always 1; node is the id of the node that answers (ASSETANCHOR_NODE_ID or generated at start).",
		[]string{"node"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- holderDesc
	ch <- nodeDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(nodeDesc, prometheus.GaugeValue, 1, c.l.node)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	holders, err := Holders(ctx, c.l.pool)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(holderDesc, err)
		return
	}
	for _, h := range holders {
		ch <- prometheus.MustNewConstMetric(holderDesc, prometheus.GaugeValue, 1, h.Job, h.Node)
	}
}
