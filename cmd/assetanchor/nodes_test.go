package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// TestThreeNodesRaceOnOneDatabase runs three serve processes on one database and
// sends each 20 racing commands at once: creates, and commands that the
// cross-stream rules allow only once (one lease of a property for the same
// dates, one payment of a charge, one account per email). The rules hold across
// nodes, and the read model, written inline by whichever node ran each
// command, equals a rebuild from the log.
func TestThreeNodesRaceOnOneDatabase(t *testing.T) {
	url := dbtest.MustURL(t)
	shared := t.TempDir() // one documents volume and data dir for the deployment
	vars := map[string]string{
		"DATABASE_URL":               url,
		"ASSETANCHOR_DATA_DIR":       shared,
		"ASSETANCHOR_ADDR":           "127.0.0.1:0",
		"ASSETANCHOR_ADMIN_EMAIL":    "ops@example.com",
		"ASSETANCHOR_ADMIN_PASSWORD": "a long enough password",
		"ASSETANCHOR_MASTER_KEY":     base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
	}
	env := func(key string) string { return vars[key] }
	nodes := []*runningServe{MustServe(t, env), MustServe(t, env), MustServe(t, env)}
	raceOnNodes(t, []string{nodes[0].addr, nodes[1].addr, nodes[2].addr}, nodes[0].MustLogin(t), url, env)
}

// raceOnNodes sends each node (an address) 20 racing commands at once and
// checks that the cross-stream rules held, in the answers and in the database
// at url, and that the read model equals a rebuild (projections verify with env).
func raceOnNodes(t *testing.T, nodes []string, token, url string, env func(string) string) {
	t.Helper()
	call := func(node string, method, path, body string) (int, map[string]any) {
		req, err := http.NewRequest(method, "http://"+node+path, strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s on %s = %d %s", method, path, node, resp.StatusCode, raw)
		}
		return resp.StatusCode, out
	}
	mustID := func(node string, path, body string) string {
		status, out := call(node, http.MethodPost, path, body)
		if status != http.StatusCreated {
			t.Fatalf("POST %s = %d %v", path, status, out)
		}
		return out["id"].(string)
	}
	property := func(name string) string {
		return fmt.Sprintf(`{"name": %q, "address": "1 Elm St", "city": "Springfield", "state": "IL",
			"zip_code": "62701", "property_type": "residential"}`, name)
	}
	contested := mustID(nodes[0], "/api/v1/properties", property("Contested"))
	paying := mustID(nodes[1], "/api/v1/properties", property("Paying"))
	tenant := mustID(nodes[2], "/api/v1/tenants", `{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}`)
	lease := func(property string) string {
		return fmt.Sprintf(`{"property_id": %q, "tenant_id": %q, "start_date": "2026-01-01", "end_date": "2026-12-31",
			"rent_amount": "1250.00", "security_deposit": "0", "payment_day": 1}`, property, tenant)
	}
	payingLease := mustID(nodes[0], "/api/v1/leases", lease(paying))
	charge := mustID(nodes[1], "/api/v1/transactions",
		fmt.Sprintf(`{"lease_id": %q, "amount": "99.00", "type": "fee", "due_date": "2026-02-01"}`, payingLease))

	var (
		mu       sync.Mutex
		statuses = map[string]map[int]int{}
		wg       sync.WaitGroup
	)
	race := func(kind string, node string, path, body string) {
		defer wg.Done()
		status, _ := call(node, http.MethodPost, path, body)
		mu.Lock()
		defer mu.Unlock()
		if statuses[kind] == nil {
			statuses[kind] = map[int]int{}
		}
		statuses[kind][status]++
	}
	for n, node := range nodes {
		for i := range 5 {
			wg.Add(4)
			go race("create", node, "/api/v1/properties", property(fmt.Sprintf("Node %d #%d", n, i)))
			go race("lease", node, "/api/v1/leases", lease(contested))
			go race("pay", node, "/api/v1/transactions/"+charge+"/pay", `{"payment_date": "2026-02-01", "payment_method": "cash"}`)
			go race("account", node, "/api/v1/users", `{"email": "twin@example.com", "password": "a long enough password",
				"first_name": "Twin", "last_name": "Account", "role": "user"}`)
		}
	}
	wg.Wait()
	want := map[string]map[int]int{
		"create":  {http.StatusCreated: 15},
		"lease":   {http.StatusCreated: 1, http.StatusConflict: 14},
		"pay":     {http.StatusOK: 1, http.StatusConflict: 14},
		"account": {http.StatusCreated: 1, http.StatusConflict: 14},
	}
	for kind, counts := range want {
		if fmt.Sprint(statuses[kind]) != fmt.Sprint(counts) {
			t.Errorf("%s answers = %v, want %v", kind, statuses[kind], counts)
		}
	}

	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, c := range []struct {
		what, sql string
		want      int
	}{
		{"active leases of the contested property", `SELECT count(*) FROM leases WHERE property_id = '` + contested + `' AND status = 'active'`, 1},
		{"payments of the charge", `SELECT count(*) FROM events WHERE stream_id = 'transaction-` + charge + `' AND event_type = 'PaymentReceived'`, 1},
		{"accounts with the email", `SELECT count(*) FROM users WHERE lower(email) = 'twin@example.com'`, 1},
		{"properties", `SELECT count(*) FROM properties`, 17},
		{"audit rows, one per event", `SELECT (SELECT count(*) FROM audit_logs) - (SELECT count(*) FROM events)`, 0},
	} {
		var got int
		if err := conn.QueryRow(context.Background(), c.sql).Scan(&got); err != nil || got != c.want {
			t.Errorf("%s = %d (%v), want %d", c.what, got, err, c.want)
		}
	}

	stdout, stderr := MustRun(t, env, "projections", "verify")
	if !strings.Contains(stdout, "identical") {
		t.Errorf("projections verify after the race:\n%s\n%s", stdout, stderr)
	}
}

// TestLoginLimitHoldsAcrossNodes sends wrong passwords for one account to
// three nodes in turn. The buckets are in PostgreSQL, so the three together
// allow what one allows (10 attempts per address and email, then 429), not
// three times as many.
func TestLoginLimitHoldsAcrossNodes(t *testing.T) {
	url := dbtest.MustURL(t)
	vars := map[string]string{
		"DATABASE_URL":               url,
		"ASSETANCHOR_DATA_DIR":       t.TempDir(),
		"ASSETANCHOR_ADDR":           "127.0.0.1:0",
		"ASSETANCHOR_ADMIN_EMAIL":    "ops@example.com",
		"ASSETANCHOR_ADMIN_PASSWORD": "a long enough password",
		"ASSETANCHOR_MASTER_KEY":     base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
	}
	env := func(key string) string { return vars[key] }
	nodes := []*runningServe{MustServe(t, env), MustServe(t, env), MustServe(t, env)}
	refused := 0
	statuses := map[int]int{}
	for i := range 30 {
		resp, err := http.Post("http://"+nodes[i%3].addr+"/api/v1/auth/login", "application/json",
			strings.NewReader(`{"email":"ops@example.com","password":"a wrong guess"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
		}
	}
	// The email bucket holds 10 and refills one every 6 s: the 30 attempts
	// take well under that, so 10 are answered and 20 refused, whichever node.
	if statuses[http.StatusUnauthorized] > 11 || refused < 19 {
		t.Errorf("30 wrong passwords spread over 3 nodes were answered %v; want about 10 401 and 20 429", statuses)
	}
}
