package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/cmd/internal/pgcluster"
)

// TestQueriesFromAReplicaKeepReadYourWrites runs serve on a primary the test
// starts, with a streaming replica of it (pg_basebackup -R). Queries are
// answered by the replica, an entity's history too; with the replica's replay
// paused, a property just created, and its history, are still read at once
// (from the primary), and the replica itself does not have it.
func TestQueriesFromAReplicaKeepReadYourWrites(t *testing.T) {
	if _, err := pgcluster.BinDir(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// Durable, as in production: synchronous_commit on sends a commit's WAL at
	// once; off, the WAL writer sends it up to 200 ms later, past ReplicaWait.
	primary, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "primary"), Fsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = primary.Stop(context.Background()) })
	replica, err := primary.StartReplica(ctx, filepath.Join(dir, "replica"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.StopReplica(context.Background()) })

	vars := map[string]string{
		"DATABASE_URL":               primary.URL(),
		"ASSETANCHOR_REPLICA_URL":    replica.URL(),
		"ASSETANCHOR_DATA_DIR":       filepath.Join(dir, "data"),
		"ASSETANCHOR_ADDR":           "127.0.0.1:0",
		"ASSETANCHOR_ADMIN_EMAIL":    "ops@example.com",
		"ASSETANCHOR_ADMIN_PASSWORD": "a long enough password",
		"ASSETANCHOR_MASTER_KEY":     base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32)),
	}
	node := MustServe(t, func(key string) string { return vars[key] })
	token := node.MustLogin(t)
	standby, err := pgx.Connect(ctx, replica.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close(context.Background())
	var inRecovery bool
	if err := standby.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("the replica is not a standby (%v)", err)
	}

	create := func(name string) string {
		status, body := callAt(t, node.addr, token, http.MethodPost, "/api/v1/properties", propertyBody(name))
		if status != http.StatusCreated {
			t.Fatalf("create = %d %v", status, body)
		}
		return body["id"].(string)
	}
	read := func(id string) {
		t.Helper()
		if status, body := callAt(t, node.addr, token, http.MethodGet, "/api/v1/properties/"+id, ""); status != http.StatusOK {
			t.Fatalf("GET the property just created = %d %v", status, body)
		}
		if status, body := callAt(t, node.addr, token, http.MethodGet, "/api/v1/properties?limit=5", ""); status != http.StatusOK {
			t.Fatalf("GET /properties = %d %v", status, body)
		}
	}

	// history reads an entity's events: a check that the viewer may see it,
	// then its stream from the event store, each a read of its own.
	history := func(id string) {
		t.Helper()
		status, body := callAt(t, node.addr, token, http.MethodGet, "/api/v1/properties/"+id+"/history", "")
		items, _ := body["items"].([]any)
		if status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["type"] != "PropertyRegistered" {
			t.Fatalf("GET the history of the property just created = %d %v, want its PropertyRegistered", status, body)
		}
	}

	before := readsByTarget(t, node.addr, token)
	var ids []string
	for i := range 10 {
		ids = append(ids, create(fmt.Sprintf("Replicated %d", i)))
		read(ids[i])
	}
	after := readsByTarget(t, node.addr, token)
	if got := after["replica"] - before["replica"]; got < 15 {
		t.Errorf("reads answered by the replica = %v of 20 (primary %v), want most", got, after["primary"]-before["primary"])
	}
	before = after
	for _, id := range ids {
		history(id)
	}
	after = readsByTarget(t, node.addr, token)
	if got := after["replica"] - before["replica"]; got < 15 {
		t.Errorf("history reads answered by the replica = %v of 20 (primary %v), want most", got, after["primary"]-before["primary"])
	}

	// What the position check costs: the same read on a node without the replica.
	primaryOnly := map[string]string{}
	for k, v := range vars {
		primaryOnly[k] = v
	}
	delete(primaryOnly, "ASSETANCHOR_REPLICA_URL")
	plain := MustServe(t, func(key string) string { return primaryOnly[key] })
	id := create("Timed")
	timeReads := func(addr string) time.Duration {
		start := time.Now()
		for range 100 {
			if status, body := callAt(t, addr, token, http.MethodGet, "/api/v1/properties/"+id, ""); status != http.StatusOK {
				t.Fatalf("GET = %d %v", status, body)
			}
		}
		return time.Since(start) / 100
	}
	timeReads(node.addr) // warm both
	timeReads(plain.addr)
	t.Logf("GET /properties/{id}: %v through the replica, %v on the primary alone",
		timeReads(node.addr), timeReads(plain.addr))
	after = readsByTarget(t, node.addr, token)

	// Replay paused: the replica stays behind, and reads fall back to the primary.
	if _, err := standby.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	defer standby.Exec(context.Background(), `SELECT pg_wal_replay_resume()`) //nolint:errcheck
	for deadline := time.Now().Add(10 * time.Second); ; {
		var state string
		if err := standby.QueryRow(ctx, `SELECT pg_get_wal_replay_pause_state()`).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "paused" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay pause state = %s", state)
		}
		time.Sleep(10 * time.Millisecond)
	}
	before = after
	id = create("Written while replay is paused")
	read(id)
	history(id)
	after = readsByTarget(t, node.addr, token)
	if got := after["primary"] - before["primary"]; got < 4 {
		t.Errorf("reads answered by the primary with replay paused = %v, want the 4 reads (2 of them the history's)", got)
	}
	var onStandby int
	if err := standby.QueryRow(ctx, `SELECT count(*) FROM properties WHERE id = $1`, id).Scan(&onStandby); err != nil || onStandby != 0 {
		t.Errorf("the paused replica has the new property (%d, %v): the test shows nothing", onStandby, err)
	}
}

var readsLine = regexp.MustCompile(`(?m)^assetanchor_reads_total\{target="(\w+)"\} (\S+)$`)

// readsByTarget reads assetanchor_reads_total from /metrics.
func readsByTarget(t *testing.T, addr, token string) map[string]float64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, m := range readsLine.FindAllStringSubmatch(body.String(), -1) {
		out[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	if len(out) != 2 {
		t.Fatalf("/metrics has no assetanchor_reads_total by target:\n%s", body.String())
	}
	return out
}
