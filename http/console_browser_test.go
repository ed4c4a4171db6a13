package http

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// MustBrowser finds Chromium (ASSETANCHOR_CHROMIUM, else chromium on PATH, else
// /usr/bin/chromium) and axe-core (installed into .ci/axe by make browser). A
// missing one skips the test, or fails it when CI=true.
func MustBrowser(tb testing.TB) (chromium string, axe string) {
	tb.Helper()
	missing := func(what string) {
		tb.Helper()
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is missing (run make browser)", what)
		}
		tb.Skipf("%s is missing (run make browser)", what)
	}
	chromium = os.Getenv("ASSETANCHOR_CHROMIUM")
	if chromium == "" {
		if p, err := exec.LookPath("chromium"); err == nil {
			chromium = p
		} else if _, err := os.Stat("/usr/bin/chromium"); err == nil {
			chromium = "/usr/bin/chromium"
		}
	}
	if chromium == "" {
		missing("Chromium")
	}
	b, err := os.ReadFile(filepath.Join("..", ".ci", "axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		missing("axe-core")
	}
	return chromium, string(b)
}

// MustChrome starts a headless Chromium with a fresh profile and no background
// networking; it stops when the test ends.
func MustChrome(tb testing.TB, chromium string) context.Context {
	tb.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium), chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-default-browser-check", true),
		chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, which lives as long as its context: the
	// bound on the whole walk is a context derived after it.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	tb.Cleanup(cancelTimeout)
	return ctx
}

// consoleScenario is the data the browser test walks through.
type consoleScenario struct {
	email                      string // the landlord's sign-in
	property, lease, tampered  uuid.UUID
	charge                     uuid.UUID
	erased, kept               uuid.UUID
	erasedName, erasedEmail    string
	foreignProperty            string // another landlord's property name
	signedAt                   time.Time
	leaseEvents, erasedEventsN int
}

// MustConsoleScenario builds a landlord's portfolio with a lease renewed twice,
// a charge paid, a tenant erased and a property whose stream was tampered with
// in SQL, plus another landlord's property the first must not find.
func (s *stack) MustConsoleScenario(tb testing.TB) consoleScenario {
	tb.Helper()
	ctx := context.Background()
	tag := uuid.NewString()[:8]
	sc := consoleScenario{email: "landlord-" + tag + "@example.com",
		erasedName: "Zelda" + tag, erasedEmail: "zelda-" + tag + "@example.com"}
	if _, err := s.users.Create(ctx, commands.CreateUser{Email: sc.email, Password: testPassword, Role: "user"}); err != nil {
		tb.Fatal(err)
	}
	var login struct {
		Token string `json:"token"`
	}
	resp := s.Do(tb, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": sc.email, "password": testPassword}, nil)
	MustStatus(tb, resp, http.StatusOK)
	MustDecode(tb, resp, &login)
	token := login.Token
	create := func(path string, body map[string]any) (uuid.UUID, time.Time) {
		tb.Helper()
		resp := s.Do(tb, token, http.MethodPost, path, body, nil)
		MustStatus(tb, resp, http.StatusCreated)
		var created struct {
			ID        uuid.UUID `json:"id"`
			CreatedAt time.Time `json:"created_at"`
		}
		MustDecode(tb, resp, &created)
		return created.ID, created.CreatedAt
	}
	sc.property, _ = create("/api/v1/properties", map[string]any{"name": "Elm Court " + tag, "address": "12 Elm Street",
		"city": "Springfield", "state": "IL", "zip_code": "62701", "property_type": "residential"})
	sc.kept, _ = create("/api/v1/tenants", map[string]any{"first_name": "Grace", "last_name": "Hopper", "email": "grace-" + tag + "@example.com"})
	sc.erased, _ = create("/api/v1/tenants", map[string]any{"first_name": sc.erasedName, "last_name": "Erasmus", "email": sc.erasedEmail, "phone": "555-0100"})
	MustStatus(tb, s.Do(tb, token, http.MethodPatch, "/api/v1/tenants/"+sc.erased.String(), map[string]any{"phone": "555-0199"}, nil), http.StatusOK)
	sc.lease, sc.signedAt = create("/api/v1/leases", map[string]any{"property_id": sc.property, "tenant_id": sc.kept,
		"start_date": "2026-01-01", "end_date": "2026-12-31", "rent_amount": "1250.00", "security_deposit": "0.00"})
	lease := "/api/v1/leases/" + sc.lease.String()
	MustStatus(tb, s.Do(tb, token, http.MethodPost, lease+"/renew", map[string]any{"end_date": "2027-06-30", "rent_amount": "1300.00"}, nil), http.StatusOK)
	MustStatus(tb, s.Do(tb, token, http.MethodPost, lease+"/renew", map[string]any{"end_date": "2027-12-31", "rent_amount": "1350.00"}, nil), http.StatusOK)
	sc.charge, _ = create("/api/v1/transactions", map[string]any{"lease_id": sc.lease, "amount": "1250.00", "type": "rent",
		"due_date": "2026-02-01", "notes": "=HYPERLINK(\"http://evil.example\")"})
	MustStatus(tb, s.Do(tb, token, http.MethodPost, "/api/v1/transactions/"+sc.charge.String()+"/pay",
		map[string]any{"payment_date": "2026-02-01", "payment_method": "cash"}, nil), http.StatusOK)
	MustStatus(tb, s.Do(tb, token, http.MethodPost, "/api/v1/tenants/"+sc.erased.String()+"/erase", nil, nil), http.StatusOK)

	sc.tampered, _ = create("/api/v1/properties", map[string]any{"name": "Tampered House " + tag, "address": "9 Oak Road",
		"city": "Springfield", "state": "IL", "zip_code": "62702", "property_type": "residential"})
	MustStatus(tb, s.Do(tb, token, http.MethodPatch, "/api/v1/properties/"+sc.tampered.String(), map[string]any{"city": "Shelbyville"}, nil), http.StatusOK)
	// As a superuser who bypasses the append-only trigger, rewrite history.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		tb.Fatal(err)
	}
	tag2, err := conn.Exec(ctx, `UPDATE events SET payload = jsonb_set(payload, '{city}', '"Capital City"') WHERE stream_id = $1 AND version = 2`,
		eventstore.StreamID{Type: domain.PropertyStreamType, ID: sc.tampered}.String())
	if err != nil || tag2.RowsAffected() != 1 {
		tb.Fatalf("tamper: %v, %d rows", err, tag2.RowsAffected())
	}
	if _, err := conn.Exec(ctx, `RESET session_replication_role`); err != nil {
		tb.Fatal(err)
	}

	_, otherToken := s.MustUser(tb, domain.RoleUser)
	sc.foreignProperty = "Foreign Manor " + tag
	resp = s.Do(tb, otherToken, http.MethodPost, "/api/v1/properties", map[string]any{"name": sc.foreignProperty, "address": "1 Far Lane",
		"city": "Ogdenville", "state": "IL", "zip_code": "62703", "property_type": "residential"}, nil)
	MustStatus(tb, resp, http.StatusCreated)
	return sc
}

// TestConsoleInBrowser drives the audit console in headless Chromium: sign in,
// search, timeline, as-of, integrity (green, and red for a tampered stream),
// CSV export and sign out, with axe-core on every page, and checks that an
// erased tenant's name and email appear on no page and in no CSV.
func TestConsoleInBrowser(t *testing.T) {
	chromium, axe := MustBrowser(t)
	s := MustStack(t)
	sc := s.MustConsoleScenario(t)
	ctx := MustChrome(t, chromium)
	base := s.http.URL + "/console/"
	var pages []string // every page's HTML, checked for the erased tenant at the end

	// visit waits for a page to load, checks it with axe and keeps its HTML.
	visit := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		actions = append(actions, chromedp.WaitReady(chromedp.CSS("main")))
		step, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(step, actions...); err != nil {
			where, _ := chromedp.Run(ctx, chromedp.Location())
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s: %v (at %s: %s)", name, err, where, html)
		}
		html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasPrefix(name, "search ") { // a search page echoes its query, the test's own words
			pages = append(pages, html)
		}
		MustNoAxeViolations(t, ctx, axe, name)
	}
	text := func(sel string) string {
		t.Helper()
		step, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(step, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	location := func() string {
		t.Helper()
		u, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	// Signed out, the console asks to sign in; a wrong password is refused on the page.
	visit("sign-in", chromedp.Navigate(base))
	if !strings.Contains(location(), "/console/login") {
		t.Fatalf("signed out, /console/ went to %s, want the sign-in page", location())
	}
	visit("wrong password", chromedp.SetValue(chromedp.CSS("#email"), sc.email),
		chromedp.SetValue(chromedp.CSS("#password"), "not the password"), chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(".alert")))
	if got := text(".alert"); !strings.Contains(got, "password is wrong") {
		t.Fatalf("wrong password answered %q, want the sign-in refused", got)
	}
	visit("find", chromedp.SetValue(chromedp.CSS("#email"), sc.email),
		chromedp.SetValue(chromedp.CSS("#password"), testPassword), chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#q")))
	if got := text(".top nav"); !strings.Contains(got, sc.email) {
		t.Errorf("signed-in header = %q, want the account %s", got, sc.email)
	}

	// Search: the landlord finds its own property by address, not another's, and
	// not the erased tenant by the name it had.
	search := func(q string) []string {
		t.Helper()
		visit("search "+q, chromedp.Navigate(base+"find"), chromedp.SetValue(chromedp.CSS("#q"), q),
			chromedp.Submit(chromedp.CSS("#q")), chromedp.WaitVisible(chromedp.CSS("#results")))
		hrefs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.results a')).map(a => a.getAttribute('href'))`))
		if err != nil {
			t.Fatal(err)
		}
		return hrefs
	}
	if got, want := search("12 elm street"), []string{"/console/property/" + sc.property.String()}; !slices.Equal(got, want) {
		t.Errorf("search by address = %v, want %v", got, want)
	}
	if got := search("Grace Hopper"); !slices.Equal(got, []string{"/console/tenant/" + sc.kept.String()}) {
		t.Errorf("search by tenant name = %v, want the tenant %s", got, sc.kept)
	}
	for _, q := range []string{sc.foreignProperty, sc.erasedName, sc.erasedEmail} {
		if got := search(q); len(got) != 0 {
			t.Errorf("search %q = %v, want nothing", q, got)
		}
	}

	// Find by kind and id, then the lease's timeline: one row per event, in order.
	visit("lease", chromedp.Navigate(base+"find"), chromedp.SetValue(chromedp.CSS("#kind"), "lease"),
		chromedp.SetValue(chromedp.CSS("#id"), sc.lease.String()), chromedp.Submit(chromedp.CSS("#id")),
		chromedp.WaitVisible(chromedp.CSS("#timeline")))
	events, err := s.store.ReadStream(context.Background(), eventstore.StreamID{Type: domain.LeaseStreamType, ID: sc.lease}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range events {
		want = append(want, e.Type)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#timeline > tbody > tr')).map(r => r.dataset.type)`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, want) || slices.Index(want, "LeaseRenewed") < 0 {
		t.Errorf("timeline rows = %v, want the lease's events %v (with its renewals)", rows, want)
	}
	timeline := text("#timeline")
	for _, w := range []string{sc.email, "127.0.0.1", "1300.00", "1350.00", "2027-12-31"} {
		if !strings.Contains(timeline, w) {
			t.Errorf("timeline does not show %q (who, from where, what changed): %s", w, timeline)
		}
	}
	if !strings.Contains(text("#integrity"), "intact") || !MustHasClass(t, ctx, "#integrity", "ok") {
		t.Errorf("untouched lease's integrity = %q, want green and intact", text("#integrity"))
	}
	MustScreenshot(t, ctx, "console-timeline.png")

	// On a phone's width the timeline reads in one column, with nothing to scroll sideways.
	visit("lease on a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(base+"lease/"+sc.lease.String()), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	if wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); err != nil || wide {
		t.Errorf("on a phone the lease page is wider than the screen (err %v)", err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	// As of its signing, the lease had its first terms.
	// The page is loaded afresh at the desktop width first: the nodes of the
	// phone-width page may be replaced while the viewport changes back.
	visit("lease as of", chromedp.Navigate(base+"lease/"+sc.lease.String()), chromedp.WaitVisible(chromedp.CSS("#as_of")),
		chromedp.SetValue(chromedp.CSS("#as_of"), sc.signedAt.UTC().Truncate(time.Millisecond).Add(time.Millisecond).Format("2006-01-02T15:04:05.000")),
		chromedp.Submit(chromedp.CSS("#as_of")), chromedp.WaitVisible(chromedp.CSS("#state-h[data-as-of]")))
	if state := text("#state"); !strings.Contains(state, "2026-12-31") || !strings.Contains(state, "1250.00") {
		t.Errorf("as of signing, the lease shows %q; want end 2026-12-31 and rent 1250.00", state)
	}
	visit("lease before it existed", chromedp.Navigate(base+"lease/"+sc.lease.String()+"?as_of=2000-01-01T00:00:00Z"),
		chromedp.WaitVisible(chromedp.CSS("#state-none")))

	// The tampered stream is red, with the reason.
	visit("tampered", chromedp.Navigate(base+"property/"+sc.tampered.String()), chromedp.WaitVisible(chromedp.CSS("#integrity")))
	if !MustHasClass(t, ctx, "#integrity", "bad") || !strings.Contains(text("#integrity-reason"), "version 2") ||
		!strings.Contains(text("#integrity-reason"), "hash mismatch") {
		t.Errorf("tampered property's integrity = %q, want red with the version and the reason", text("#integrity"))
	}
	MustScreenshot(t, ctx, "console-tampered.png")

	// The erased tenant's page, as of before its erasure too, and the CSVs.
	visit("erased tenant", chromedp.Navigate(base+"tenant/"+sc.erased.String()), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	visit("erased tenant as of", chromedp.Navigate(base+"tenant/"+sc.erased.String()+"?as_of="+time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05")),
		chromedp.WaitReady(chromedp.CSS("#state-h")))
	visit("erased tenant before erasure", chromedp.Navigate(base+"tenant/"+sc.erased.String()+"?as_of="+sc.signedAt.UTC().Format(time.RFC3339Nano)),
		chromedp.WaitVisible(chromedp.CSS("#state")))
	// The CSVs, through a client of their own (the page's policy lets no script fetch).
	client := s.MustConsoleClient(t)
	MustStatus(t, s.consolePost(t, client, "/console/login", url.Values{"email": {sc.email}, "password": {testPassword}}, s.http.URL), http.StatusSeeOther)
	var csvs []string
	for _, path := range []string{"tenant/" + sc.erased.String(), "lease/" + sc.lease.String(), "transaction/" + sc.charge.String()} {
		resp, csv := s.consoleGet(t, client, "/console/"+path+"/timeline.csv")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("%s CSV: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		csvs = append(csvs, csv)
	}
	if !strings.Contains(csvs[0], "TenantPersonalDataErased") {
		t.Errorf("erased tenant's CSV lacks its erasure: %s", csvs[0])
	}
	if n := strings.Count(csvs[1], "\nlease,"); n < len(want) {
		t.Errorf("lease CSV has %d rows, want at least one per event (%d): %s", n, len(want), csvs[1])
	}
	// A value a spreadsheet would run as a formula is defused.
	if !strings.Contains(csvs[2], `'=HYPERLINK(`) || strings.Contains(strings.ReplaceAll(csvs[2], `'=HYPERLINK(`, ""), "=HYPERLINK(") {
		t.Errorf("transaction CSV does not defuse its formula-like notes: %s", csvs[2])
	}
	for i, page := range append(pages, csvs...) {
		for _, secret := range []string{sc.erasedName, sc.erasedEmail, "555-0199"} {
			if strings.Contains(strings.ToLower(page), strings.ToLower(secret)) {
				t.Errorf("page or CSV %d shows the erased tenant's %q", i, secret)
			}
		}
	}

	// Sign out: the session is gone, the console asks to sign in again.
	visit("signed out", chromedp.Navigate(base+"find"), chromedp.Click(chromedp.CSS(".top button")),
		chromedp.WaitVisible(chromedp.CSS("#password")))
	visit("after sign-out", chromedp.Navigate(base+"lease/"+sc.lease.String()), chromedp.WaitVisible(chromedp.CSS("#password")))
}

// MustNoAxeViolations runs axe-core on the page and fails on serious or
// critical violations.
func MustNoAxeViolations(tb testing.TB, ctx context.Context, axe, page string) {
	tb.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axe)); err != nil {
		tb.Fatalf("inject axe into %s: %v", page, err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations.map(
			v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("axe on %s: %v", page, err)
	}
	var violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		tb.Fatalf("axe on %s: %v", page, err)
	}
	for _, v := range violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			tb.Errorf("axe on %s: %s (%s): %s at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
}

func MustHasClass(tb testing.TB, ctx context.Context, sel, class string) bool {
	tb.Helper()
	has, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+sel+`').classList.contains('`+class+`')`))
	if err != nil {
		tb.Fatal(err)
	}
	return has
}

// MustScreenshot saves the page as name under ASSETANCHOR_CONSOLE_SCREENSHOTS,
// when set (make console-screenshots sets it to docs/).
func MustScreenshot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	dir := os.Getenv("ASSETANCHOR_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; below, JPEG
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
		tb.Fatal(err)
	}
}
