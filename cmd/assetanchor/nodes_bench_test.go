// BenchmarkCommandsThreeNodesAgainstOne measures command throughput, POST
// /properties over HTTP from 16 concurrent clients, against one serve node and
// against three serve nodes on the same database (the clients spread round
// robin over the nodes), in the same run on the same machine.
//
// Timing scheme: like the other benchmarks it times itself and ignores b.N
// (the Makefile passes -benchtime=1x). Each setup gets a fresh database and its
// own nodes; the rounds alternate one, three, one, three (each 4 s at
// ASSETANCHOR_BENCH_SCALE=1) so that drift on a shared machine falls on both.
// ratio = commands/s of three nodes ÷ commands/s of one. The nodes run in this
// process, as goroutines: on two cores three nodes cannot add CPU, so the ratio
// shows what sharing one database costs (the target is ≥ 0.9); more cores would
// show the gain.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

func BenchmarkCommandsThreeNodesAgainstOne(b *testing.B) {
	round := time.Duration(float64(4*time.Second) * dbtest.MustBenchScale(b))
	setup := func(n int) (addrs []string, token string) {
		vars := map[string]string{
			"DATABASE_URL":               dbtest.MustURL(b),
			"ASSETANCHOR_DATA_DIR":       b.TempDir(),
			"ASSETANCHOR_ADDR":           "127.0.0.1:0",
			"ASSETANCHOR_ADMIN_EMAIL":    "ops@example.com",
			"ASSETANCHOR_ADMIN_PASSWORD": "a long enough password",
			"ASSETANCHOR_MASTER_KEY":     base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32)),
		}
		for range n {
			node := MustServe(b, func(key string) string { return vars[key] })
			addrs = append(addrs, node.addr)
			if token == "" {
				token = node.MustLogin(b)
			}
		}
		return addrs, token
	}
	one, oneToken := setup(1)
	three, threeToken := setup(3)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	measure := func(addrs []string, token string) (done int64, elapsed time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), round)
		defer cancel()
		var ok, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					req, _ := http.NewRequest(http.MethodPost, "http://"+addrs[(w+i)%len(addrs)]+"/api/v1/properties",
						bytes.NewBufferString(propertyBody(fmt.Sprintf("Bench %d-%d", w, i))))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated {
						ok.Add(1)
					} else {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			b.Errorf("%d commands failed on %d node(s)", n, len(addrs))
		}
		return ok.Load(), time.Since(start)
	}
	b.ResetTimer()
	for range b.N {
		var oneDone, threeDone int64
		var oneTime, threeTime time.Duration
		for range 2 {
			n, d := measure(one, oneToken)
			oneDone, oneTime = oneDone+n, oneTime+d
			n, d = measure(three, threeToken)
			threeDone, threeTime = threeDone+n, threeTime+d
		}
		oneRate, threeRate := float64(oneDone)/oneTime.Seconds(), float64(threeDone)/threeTime.Seconds()
		b.ReportMetric(oneRate, "one_node_commands/s")
		b.ReportMetric(threeRate, "three_nodes_commands/s")
		b.ReportMetric(threeRate/oneRate, "ratio")
		fmt.Printf("commands/s: one node %.0f, three nodes %.0f, ratio %.2f\n", oneRate, threeRate, threeRate/oneRate)
	}
}
