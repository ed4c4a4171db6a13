package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/cmd/internal/jobs"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// One job on two nodes runs on one at a time; when its holder stops, the other
// takes it at once (a clean stop releases the lease), and a node whose lease
// was taken from it stops its job.
func TestAJobRunsOnOneNodeAtATime(t *testing.T) {
	pool := dbtest.MustPool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var running, most atomic.Int32
	job := func(ran *atomic.Bool) func(context.Context) {
		return func(ctx context.Context) {
			ran.Store(true)
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-ctx.Done()
			running.Add(-1)
		}
	}
	start := func(node string, ran *atomic.Bool) (context.CancelFunc, chan struct{}) {
		l, err := jobs.NewLeases(pool, node, time.Second, log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			l.Run(ctx, "sweep", job(ran))
			close(done)
		}()
		return cancel, done
	}
	var ranA, ranB atomic.Bool
	stopA, doneA := start("a", &ranA)
	waitUntil(t, ranA.Load)
	stopB, doneB := start("b", &ranB)
	defer func() { stopB(); <-doneB }()
	time.Sleep(1500 * time.Millisecond) // longer than the lease: a renews it
	if ranB.Load() {
		t.Fatal("b ran the job while a held it")
	}
	stopA()
	<-doneA
	released := time.Now()
	waitUntil(t, ranB.Load)
	if took := time.Since(released); took > time.Second {
		t.Errorf("b took the released job after %s", took)
	}
	holders, err := jobs.Holders(context.Background(), pool)
	if err != nil || len(holders) != 1 || holders[0].Node != "b" || holders[0].Job != "sweep" {
		t.Errorf("holders = %+v, %v", holders, err)
	}

	// Someone else takes b's lease (as after b stalled past it): b stops its job.
	if _, err := pool.Exec(context.Background(), `UPDATE job_leases SET holder = 'c'`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return running.Load() == 0 })
	if most.Load() != 1 {
		t.Errorf("the job ran %d times at once", most.Load())
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
