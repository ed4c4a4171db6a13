package main

import (
	"math"
	"mime"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/assetanchor/assetanchor/http"
)

// config is everything the binary reads from its environment.
type config struct {
	DatabaseURL string
	// DirectDatabaseURL is ASSETANCHOR_DIRECT_DATABASE_URL: a session of its own
	// (migrations, import) when DatabaseURL goes through PgBouncer; empty:
	// DatabaseURL.
	DirectDatabaseURL string
	// ReplicaURL is ASSETANCHOR_REPLICA_URL: a streaming replica for queries.
	ReplicaURL    string
	Addr          string
	DataDir       string
	AdminEmail    string
	AdminPassword string
	// MaxUploadBytes and UploadTypes are ASSETANCHOR_MAX_UPLOAD_BYTES and
	// ASSETANCHOR_UPLOAD_TYPES as given; uploadLimits parses them.
	MaxUploadBytes string
	UploadTypes    string
	// MasterKey is ASSETANCHOR_MASTER_KEY (base64 of 32 bytes); empty means the
	// key file under the data dir (keys.go).
	MasterKey string
	// RequestTimeout is ASSETANCHOR_REQUEST_TIMEOUT as given; requestTimeout
	// parses it.
	RequestTimeout string
	// CORSOrigins, TrustedProxies and MetricsAddr are ASSETANCHOR_CORS_ORIGINS,
	// ASSETANCHOR_TRUSTED_PROXIES and ASSETANCHOR_METRICS_ADDR as given; edge
	// parses them.
	CORSOrigins, TrustedProxies, MetricsAddr string
	// BackupDir is ASSETANCHOR_BACKUP_DIR (default <data dir>/backups); Backup
	// holds the schedule and retention variables as given, parsed by
	// backupSettings (backup.go).
	BackupDir string
	Backup    map[string]string
	// NATSURL is ASSETANCHOR_NATS_URL: where serve relays the event log.
	NATSURL string
	// NodeID is ASSETANCHOR_NODE_ID; empty: generated at start (jobs.NodeID).
	NodeID string
	// JobLeaseTTL is ASSETANCHOR_JOB_LEASE_TTL as given; jobLeaseTTL parses it.
	JobLeaseTTL string
	// AnchorKey is ASSETANCHOR_ANCHOR_KEY (base64 Ed25519 seed); empty means
	// anchor.key in the data dir (anchors.go). AnchorEvery is
	// ASSETANCHOR_ANCHOR_EVERY as given; anchorEvery parses it.
	AnchorKey, AnchorEvery string
}

// environment is what assetanchor --help lists; loadConfig reads these.
var environment = []struct{ name, meaning string }{
	{"DATABASE_URL", "PostgreSQL to use (unset: a private cluster under the data dir)"},
	{"ASSETANCHOR_DIRECT_DATABASE_URL", "a direct (unpooled) connection for migrations and import when DATABASE_URL goes through PgBouncer (DATABASE_URL)"},
	{"ASSETANCHOR_REPLICA_URL", "a streaming replica that serves queries, read-your-writes kept (unset: queries on the primary)"},
	{"ASSETANCHOR_ADDR", "serve's listen address (127.0.0.1:8080)"},
	{"ASSETANCHOR_DATA_DIR", "private cluster, document files, generated master key (./.assetanchor)"},
	{"ASSETANCHOR_MASTER_KEY", "base64 of the 32-byte key that wraps tenant data keys (unset: master.key in the data dir)"},
	{"ASSETANCHOR_ADMIN_EMAIL, ASSETANCHOR_ADMIN_PASSWORD", "administrator serve creates if missing"},
	{"ASSETANCHOR_MAX_UPLOAD_BYTES", "largest document accepted, in bytes (26214400)"},
	{"ASSETANCHOR_UPLOAD_TYPES", "media types a document may have, separated by commas"},
	{"ASSETANCHOR_REQUEST_TIMEOUT", "how long a request may take, 1s to 1h (30s)"},
	{"ASSETANCHOR_NATS_URL", "NATS server whose JetStream stream ASSETANCHOR_EVENTS serve relays every event to (unset: no relay)"},
	{"ASSETANCHOR_NODE_ID", "this node's name in job leases and /metrics (unset: host name and a random suffix)"},
	{"ASSETANCHOR_JOB_LEASE_TTL", "how long a node's hold on a background job lasts unless renewed, 1s to 10m (15s)"},
	{"ASSETANCHOR_PG_BIN", "directory of PostgreSQL's server binaries (the newest /usr/lib/postgresql/*/bin)"},
	{"ASSETANCHOR_BACKUP_DIR", "pgBackRest repository, archived documents, erasure journal (<data dir>/backups)"},
	{"ASSETANCHOR_BACKUP_FULL_EVERY, ..._INCREMENTAL_EVERY", "serve's backup schedule (24h, 6h; 0 turns it off)"},
	{"ASSETANCHOR_BACKUP_KEEP_DAILY, ..._WEEKLY, ..._MONTHLY", "full backups kept per day, week, month (7, 4, 12)"},
	{"ASSETANCHOR_BACKUP_PITR_WINDOW", "how far back point-in-time recovery reaches (168h)"},
	{"ASSETANCHOR_ARCHIVE_TIMEOUT", "longest wait before a write's WAL is archived (60s)"},
	{"ASSETANCHOR_ANCHOR_KEY", "base64 Ed25519 seed that signs anchors (unset: anchor.key in the data dir, generated once)"},
	{"ASSETANCHOR_ANCHOR_EVERY", "how often serve anchors the log into <data dir>/anchors (1h; 0 turns it off)"},
}

// backupVariables are the schedule and retention settings (backupSettings).
var backupVariables = []string{
	"ASSETANCHOR_BACKUP_FULL_EVERY", "ASSETANCHOR_BACKUP_INCREMENTAL_EVERY",
	"ASSETANCHOR_BACKUP_KEEP_DAILY", "ASSETANCHOR_BACKUP_KEEP_WEEKLY", "ASSETANCHOR_BACKUP_KEEP_MONTHLY",
	"ASSETANCHOR_BACKUP_PITR_WINDOW", "ASSETANCHOR_ARCHIVE_TIMEOUT",
}

func loadConfig(getenv func(string) string) config {
	c := config{
		DatabaseURL:       getenv("DATABASE_URL"),
		DirectDatabaseURL: getenv("ASSETANCHOR_DIRECT_DATABASE_URL"),
		ReplicaURL:        getenv("ASSETANCHOR_REPLICA_URL"),
		Addr:              getenv("ASSETANCHOR_ADDR"),
		DataDir:           getenv("ASSETANCHOR_DATA_DIR"),
		AdminEmail:        getenv("ASSETANCHOR_ADMIN_EMAIL"),
		AdminPassword:     getenv("ASSETANCHOR_ADMIN_PASSWORD"),
		MasterKey:         getenv("ASSETANCHOR_MASTER_KEY"),
	}
	c.MaxUploadBytes, c.UploadTypes = getenv("ASSETANCHOR_MAX_UPLOAD_BYTES"), getenv("ASSETANCHOR_UPLOAD_TYPES")
	c.RequestTimeout = getenv("ASSETANCHOR_REQUEST_TIMEOUT")
	c.CORSOrigins, c.TrustedProxies = getenv("ASSETANCHOR_CORS_ORIGINS"), getenv("ASSETANCHOR_TRUSTED_PROXIES")
	c.MetricsAddr = getenv("ASSETANCHOR_METRICS_ADDR")
	c.BackupDir = getenv("ASSETANCHOR_BACKUP_DIR")
	c.Backup = map[string]string{}
	for _, name := range backupVariables {
		c.Backup[name] = getenv(name)
	}
	c.NATSURL, c.NodeID = getenv("ASSETANCHOR_NATS_URL"), getenv("ASSETANCHOR_NODE_ID")
	c.JobLeaseTTL = getenv("ASSETANCHOR_JOB_LEASE_TTL")
	c.AnchorKey, c.AnchorEvery = getenv("ASSETANCHOR_ANCHOR_KEY"), getenv("ASSETANCHOR_ANCHOR_EVERY")
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = ".assetanchor"
	}
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	if c.BackupDir == "" {
		c.BackupDir = filepath.Join(c.DataDir, "backups")
	}
	if abs, err := filepath.Abs(c.BackupDir); err == nil {
		c.BackupDir = abs
	}
	return c
}

// uploadLimits are the document upload settings; zero values leave the server's
// defaults (25 MiB; PDF, images, plain text and office documents).
type uploadLimits struct {
	maxBytes int64
	types    []string
}

// uploadLimits parses ASSETANCHOR_MAX_UPLOAD_BYTES (a number of bytes, at most
// what the documents table's INTEGER file_size holds) and ASSETANCHOR_UPLOAD_TYPES
// (media types separated by commas, such as "application/pdf,image/png").
func (c config) uploadLimits() (uploadLimits, error) {
	var u uploadLimits
	if raw := strings.TrimSpace(c.MaxUploadBytes); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 1 || n > math.MaxInt32 {
			return uploadLimits{}, usageError("ASSETANCHOR_MAX_UPLOAD_BYTES must be a number of bytes from 1 to 2147483647")
		}
		u.maxBytes = n
	}
	if strings.TrimSpace(c.UploadTypes) != "" {
		for _, t := range strings.Split(c.UploadTypes, ",") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(t)
			if err != nil || len(params) > 0 || !strings.Contains(mt, "/") || strings.Contains(mt, "*") {
				return uploadLimits{}, usageError("ASSETANCHOR_UPLOAD_TYPES must list media types separated by commas, such as application/pdf,image/png; " +
					strconv.Quote(t) + " is not one")
			}
			u.types = append(u.types, mt)
		}
	}
	return u, nil
}

// requestTimeout parses ASSETANCHOR_REQUEST_TIMEOUT, how long a request may take
// (a Go duration such as "30s" or "2m", from 1s to 1h); zero leaves the server's
// default (http.DefaultRequestTimeout).
func (c config) requestTimeout() (time.Duration, error) {
	raw := strings.TrimSpace(c.RequestTimeout)
	if raw == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < time.Second || d > time.Hour {
		return 0, usageError("ASSETANCHOR_REQUEST_TIMEOUT must be a duration from 1s to 1h, such as 30s or 2m")
	}
	return d, nil
}

// edge sets the server's edge settings in d: the origins allowed CORS
// (ASSETANCHOR_CORS_ORIGINS, such as "https://app.example.com,http://localhost:5173"),
// the proxies trusted to name the client (ASSETANCHOR_TRUSTED_PROXIES, CIDRs or
// addresses, such as "10.0.0.0/8,192.0.2.7") and /metrics' own listen address
// (ASSETANCHOR_METRICS_ADDR).
func (c config) edge(d *http.Deps) error {
	for _, o := range splitList(c.CORSOrigins) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || o != u.Scheme+"://"+u.Host {
			return usageError("ASSETANCHOR_CORS_ORIGINS must list origins separated by commas, such as https://app.example.com; " +
				strconv.Quote(o) + " is not one")
		}
		d.CORSOrigins = append(d.CORSOrigins, o)
	}
	for _, p := range splitList(c.TrustedProxies) {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, addrErr := netip.ParseAddr(p)
			if addrErr != nil {
				return usageError("ASSETANCHOR_TRUSTED_PROXIES must list CIDRs or addresses separated by commas, such as 10.0.0.0/8,192.0.2.7; " +
					strconv.Quote(p) + " is not one")
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		d.TrustedProxies = append(d.TrustedProxies, prefix.Masked())
	}
	d.MetricsAddr = strings.TrimSpace(c.MetricsAddr)
	return nil
}

// splitList splits a comma-separated setting, dropping blanks.
func splitList(raw string) []string {
	var out []string
	for _, item := range strings.Split(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// jobLeaseTTL is ASSETANCHOR_JOB_LEASE_TTL; 0 leaves jobs.DefaultTTL.
func (c config) jobLeaseTTL() (time.Duration, error) {
	if c.JobLeaseTTL == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.JobLeaseTTL)
	if err != nil || d < time.Second || d > 10*time.Minute {
		return 0, usageError("ASSETANCHOR_JOB_LEASE_TTL must be a duration from 1s to 10m, such as 15s")
	}
	return d, nil
}
