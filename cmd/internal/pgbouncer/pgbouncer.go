// Package pgbouncer runs a private PgBouncer (Debian's binary) in transaction
// pooling mode in front of a PostgreSQL server, for tests: a private config
// directory, a random free port, the server's own user and password. When we
// are root it runs as the postgres OS user, since PgBouncer refuses root.
//
// It imports nothing of ours.
package pgbouncer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrMissing means no pgbouncer binary was found.
var ErrMissing = errors.New("pgbouncer: binary not found (apt-get install pgbouncer)")

// Bouncer is a running PgBouncer.
type Bouncer struct {
	dir      string
	port     int
	user     string
	password string
	cmd      *exec.Cmd
	done     chan error
}

// Binary finds pgbouncer on PATH or in /usr/sbin (Debian's place).
func Binary() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", ErrMissing
}

// Start runs PgBouncer in front of the server of upstream (a postgres:// URL
// with user and password); any database name of a client is passed through.
func Start(ctx context.Context, upstream string) (*Bouncer, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: parse upstream url: %w", err)
	}
	pw, _ := u.User.Password()
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: upstream host: %w", err)
	}
	dir, err := os.MkdirTemp("", "aapgb-")
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: %w", err)
	}
	b := &Bouncer{dir: dir, user: u.User.Username(), password: pw, done: make(chan error, 1)}
	if b.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgbouncer: pick port: %w", err)
	}
	// Transaction pooling: a server connection belongs to a client for one
	// transaction only, which is what the application must live with.
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %s
admin_users = %s
stats_users = %s
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
server_reset_query =
stats_period = 1
logfile = %s
pidfile = %s
`, host, port, b.port, filepath.Join(dir, "userlist.txt"), b.user, b.user,
		filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.pid"))
	files := map[string]string{
		"pgbouncer.ini": ini,
		"userlist.txt":  fmt.Sprintf("%q %q\n", b.user, pw),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgbouncer: %w", err)
		}
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgbouncer: refuses root, and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := chownAll(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgbouncer: %w", err)
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgbouncer: start: %w", err)
	}
	b.cmd = cmd
	go func() { b.done <- cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		conn, err := b.Admin(ctx)
		if err == nil {
			conn.Close(ctx)
			return b, nil
		}
		select {
		case werr := <-b.done:
			b.done <- werr
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgbouncer: exited at start (%v): %s", werr, tail(string(log)))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.Stop()
			return nil, fmt.Errorf("pgbouncer: does not accept connections: %w", err)
		}
	}
}

// URL is the PgBouncer address of database db, with the upstream's credentials.
func (b *Bouncer) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(b.user, b.password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Admin connects to PgBouncer's admin console (database pgbouncer), which
// speaks only the simple query protocol.
func (b *Bouncer) Admin(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(b.URL("pgbouncer"))
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	return pgx.ConnectConfig(ctx, cfg)
}

// Stats is SHOW STATS's line of database db: transactions and queries
// PgBouncer has passed on to the server.
type Stats struct {
	Transactions, Queries int64
}

// Stats reads SHOW STATS on the admin console. PgBouncer adds up its
// counters every second (stats_period): wait that long after the traffic.
func (b *Bouncer) Stats(ctx context.Context, db string) (Stats, error) {
	conn, err := b.Admin(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SHOW STATS")
	if err != nil {
		return Stats{}, err
	}
	defer rows.Close()
	var s Stats
	for rows.Next() {
		// Every column read as its text: the counters are numeric.
		row := map[string]string{}
		for i, fd := range rows.FieldDescriptions() {
			row[fd.Name] = string(rows.RawValues()[i])
		}
		if row["database"] != db {
			continue
		}
		s.Transactions, _ = strconv.ParseInt(row["total_xact_count"], 10, 64)
		s.Queries, _ = strconv.ParseInt(row["total_query_count"], 10, 64)
	}
	return s, rows.Err()
}

// Stop ends PgBouncer (SIGINT: at once) and removes its directory.
func (b *Bouncer) Stop() error {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
		b.cmd = nil
	}
	return os.RemoveAll(b.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

func chownAll(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}
