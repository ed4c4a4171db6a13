package pgbouncer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MustStart starts PgBouncer in front of DATABASE_URL's server, or skips (fails
// when CI=true) without a pgbouncer binary or DATABASE_URL.
func MustStart(t *testing.T, upstream string) *Bouncer {
	t.Helper()
	if _, err := Binary(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	b, err := Start(context.Background(), upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	return b
}

// TestExecModesThroughPgBouncer measures pgx's query modes through PgBouncer in
// transaction mode under concurrency: 16 clients on one pooled server set, each
// running statements whose text all clients share but whose jsonb, numeric and
// text parameters differ, alone and in pipelines. It logs, per mode, the
// failures and wrong answers; the mode the application uses
// (QueryExecModeCacheDescribe, cmd/assetanchor/database.go) must have none.
func TestExecModesThroughPgBouncer(t *testing.T) {
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		t.Skip("DATABASE_URL is not set: run the tests with `make test`")
	}
	b := MustStart(t, base)
	ctx := context.Background()
	direct, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if _, err := direct.Exec(ctx, `CREATE TABLE IF NOT EXISTS execmode_probe (id bigint, doc jsonb, amount numeric)`); err != nil {
		t.Fatal(err)
	}
	defer direct.Exec(context.Background(), `DROP TABLE execmode_probe`) //nolint:errcheck

	db := "assetanchor"
	if cfg, err := pgx.ParseConfig(base); err == nil {
		db = cfg.Database
	}
	modes := []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol}
	for _, mode := range modes {
		failures, wrong, rate, first := probe(t, b.URL(db), mode)
		t.Logf("%-15v failures %6d, wrong answers %4d, %6.0f statements/s; first failure: %v", mode, failures, wrong, rate, first)
		if mode == pgx.QueryExecModeCacheDescribe && failures+wrong > 0 {
			t.Errorf("%v through PgBouncer: %d failures, %d wrong answers", mode, failures, wrong)
		}
	}
}

func probe(t *testing.T, url string, mode pgx.QueryExecMode) (failures, wrong int64, rate float64, first error) {
	var once sync.Once
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = mode
	cfg.MaxConns = 16
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var done atomic.Int64
	var wg sync.WaitGroup
	for client := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				n := int64(client*1_000_000 + i)
				err := check(ctx, pool, client, n)
				switch {
				case ctx.Err() != nil:
				case errors.Is(err, errWrong):
					atomic.AddInt64(&wrong, 1)
				case err != nil:
					atomic.AddInt64(&failures, 1)
					once.Do(func() { first = err })
				default:
					done.Add(4)
				}
			}
		}()
	}
	wg.Wait()
	return failures, wrong, float64(done.Load()) / 2, first
}

var errWrong = errors.New("wrong answer")

// check runs one round: a lone query, an insert and a pipeline, all with
// parameters of this client, and compares what comes back.
func check(ctx context.Context, pool *pgxpool.Pool, client int, n int64) error {
	doc := map[string]any{"client": client, "n": n}
	var got int64
	if err := pool.QueryRow(ctx, `SELECT ($1::jsonb ->> 'n')::bigint`, doc).Scan(&got); err != nil {
		return err
	}
	if got != n {
		return errWrong
	}
	if _, err := pool.Exec(ctx, `INSERT INTO execmode_probe (id, doc, amount) VALUES ($1, $2, $3::numeric)`,
		n, doc, fmt.Sprintf("%d.25", n)); err != nil {
		return err
	}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT set_config('application_name', $1, true)`, fmt.Sprint(n))
	batch.Queue(`SELECT doc ->> 'client', amount::text FROM execmode_probe WHERE id = $1`, n)
	batch.Queue(`SELECT current_setting('application_name')`)
	res := pool.SendBatch(ctx, batch)
	defer res.Close()
	if _, err := res.Exec(); err != nil {
		return err
	}
	var who, amount, name string
	if err := res.QueryRow().Scan(&who, &amount); err != nil {
		return err
	}
	if err := res.QueryRow().Scan(&name); err != nil {
		return err
	}
	if who != fmt.Sprint(client) || amount != fmt.Sprintf("%d.25", n) || name != fmt.Sprint(n) {
		return errWrong
	}
	return res.Close()
}
