// Package pgcluster runs a private PostgreSQL cluster owned by the
// assetanchor binary: initdb on first use, a random loopback port on every
// start, and a clean fast shutdown.
//
// Files live next to the cluster directory Dir:
//
//	Dir            the data directory (initdb)
//	Dir.password   the generated superuser password (mode 0600, reused)
//	Dir.log        the server log (pg_ctl -l), appended across starts
//	Dir.sock       the Unix socket directory (a short /tmp dir if too long)
//
// For the default Dir ./.assetanchor/postgres these are
// ./.assetanchor/postgres.password, ./.assetanchor/postgres.log and
// ./.assetanchor/postgres.sock.
//
// When the process runs as root, the server files belong to the "postgres"
// OS user and initdb/pg_ctl run as that user, because PostgreSQL refuses to
// run as root.
package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// superuser is the cluster superuser created by initdb.
	superuser = "assetanchor"
	// database is the application database created on first start.
	database = "assetanchor"

	binEnv = "ASSETANCHOR_PG_BIN"

	errNoBinaries = "PostgreSQL server binaries not found: install Debian's postgresql package (apt-get install postgresql) or set " + binEnv

	// maxSocketDirLen keeps "<dir>/.s.PGSQL.65535.lock" well inside the
	// 107-byte sun_path limit.
	maxSocketDirLen = 100 - len("/.s.PGSQL.65535.lock")

	readyTimeout = 30 * time.Second
)

// Options configures Start.
type Options struct {
	// Dir is the cluster (data) directory, e.g. ./.assetanchor/postgres.
	// It is created if missing.
	Dir string
	// Fsync false makes a throwaway cluster: fsync=off,
	// synchronous_commit=off, full_page_writes=off.
	Fsync bool
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	dir      string
	bin      string
	logPath  string
	sockDir  string
	tmpSock  bool // sockDir is a private /tmp dir to be removed on Stop
	port     int
	password string
	owner    *osUser // non-nil when running as root: run the server as this user
	logf     func(format string, args ...any)

	mu      sync.Mutex
	stopped bool
}

type osUser struct {
	uid, gid int
}

// BinDir finds the PostgreSQL server binaries: $ASSETANCHOR_PG_BIN if set,
// else the highest /usr/lib/postgresql/*/bin containing initdb, else the
// directory of initdb on PATH.
func BinDir() (string, error) {
	if d := os.Getenv(binEnv); d != "" {
		if isExecutable(filepath.Join(d, "initdb")) {
			return filepath.Abs(d)
		}
		return "", fmt.Errorf("%s=%s does not contain initdb: %s", binEnv, d, errNoBinaries)
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	var candidates []string
	for _, m := range matches {
		if isExecutable(m) {
			candidates = append(candidates, filepath.Dir(m))
		}
	}
	if len(candidates) > 0 {
		sort.Slice(candidates, func(i, j int) bool {
			return versionLess(candidates[i], candidates[j])
		})
		return candidates[len(candidates)-1], nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return filepath.Dir(p), nil
	}
	return "", errors.New(errNoBinaries)
}

// versionLess compares /usr/lib/postgresql/<version>/bin paths by version
// number (so 9.6 < 10 < 15 < 16).
func versionLess(a, b string) bool {
	va := versionParts(filepath.Base(filepath.Dir(a)))
	vb := versionParts(filepath.Base(filepath.Dir(b)))
	for i := 0; i < len(va) && i < len(vb); i++ {
		if va[i] != vb[i] {
			return va[i] < vb[i]
		}
	}
	if len(va) != len(vb) {
		return len(va) < len(vb)
	}
	return a < b
}

func versionParts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ".") {
		n, err := strconv.Atoi(f)
		if err != nil {
			n = -1
		}
		out = append(out, n)
	}
	return out
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Start initialises the cluster if Dir holds none, then starts the server on
// a random free port on 127.0.0.1 and waits until it accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is empty")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	// pg_ctl builds a shell command line with these paths in double quotes.
	if strings.ContainsAny(dir, "\"$`\\\n") {
		return nil, fmt.Errorf("pgcluster: unsupported character in cluster path %q", dir)
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		dir:     dir,
		bin:     bin,
		logPath: dir + ".log",
		logf:    opts.Logf,
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if os.Geteuid() == 0 {
		u, err := lookupUser("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgcluster: running as root needs the postgres OS user: %w", err)
		}
		c.owner = u
	}

	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if c.password, err = loadOrCreatePassword(dir + ".password"); err != nil {
		return nil, err
	}
	if err := c.prepareFiles(); err != nil {
		return nil, err
	}

	initialized, err := exists(filepath.Join(dir, "PG_VERSION"))
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if !initialized {
		if err := c.initdb(ctx); err != nil {
			c.cleanupSock()
			return nil, err
		}
	} else if c.owner != nil {
		if err := chownTree(dir, c.owner); err != nil {
			c.cleanupSock()
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}

	if err := c.stopLeftover(ctx); err != nil {
		c.cleanupSock()
		return nil, err
	}

	var startErr error
	for attempt := 0; attempt < 3; attempt++ {
		startErr = c.start(ctx, opts.Fsync)
		if startErr == nil || !errors.Is(startErr, errPortInUse) || ctx.Err() != nil {
			break
		}
	}
	if startErr != nil {
		c.cleanupSock()
		return nil, startErr
	}

	if err := c.ensureDatabase(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = c.Stop(stopCtx)
		return nil, err
	}
	c.logf("pgcluster: server ready on 127.0.0.1:%d (data %s)", c.port, c.dir)
	return c, nil
}

// URL returns the postgres URL of database "assetanchor".
func (c *Cluster) URL() string { return c.AdminURL(database) }

// AdminURL returns the postgres URL of the given database, with the cluster
// superuser's credentials.
func (c *Cluster) AdminURL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop shuts the server down (pg_ctl stop -m fast) and waits for it. Calling
// it again after a successful stop does nothing.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	out, err := c.pgCtl(ctx, "stop", "-D", c.dir, "-m", "fast", "-w", "-t", "60")
	if err != nil {
		running, serr := c.running(context.WithoutCancel(ctx))
		if serr == nil && !running {
			// Nothing left to stop (the server already went away).
			c.logf("pgcluster: server on %s was not running: %s", c.dir, strings.TrimSpace(string(out)))
			c.stopped = true
			c.cleanupSock()
			return nil
		}
		if running && ctx.Err() == nil {
			// Fast shutdown failed or timed out: last resort so no server
			// outlives us (crash recovery replays WAL on the next start).
			immCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			_, _ = c.pgCtl(immCtx, "stop", "-D", c.dir, "-m", "immediate", "-w", "-t", "20")
			cancel()
		}
		return fmt.Errorf("pgcluster: pg_ctl stop: %w: %s%s", err, strings.TrimSpace(string(out)), c.logTail())
	}
	c.stopped = true
	c.cleanupSock()
	c.logf("pgcluster: server stopped (data %s)", c.dir)
	return nil
}

// prepareFiles creates the data, socket and log paths and, as root, hands
// them to the postgres user and makes their parents traversable.
func (c *Cluster) prepareFiles() error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	c.sockDir = c.dir + ".sock"
	if len(c.sockDir) > maxSocketDirLen || strings.ContainsAny(c.sockDir, " ,'\"") {
		d, err := os.MkdirTemp("/tmp", "aapg-")
		if err != nil {
			return fmt.Errorf("pgcluster: socket dir: %w", err)
		}
		c.sockDir, c.tmpSock = d, true
	} else if err := os.MkdirAll(c.sockDir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	f, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.cleanupSock()
		return fmt.Errorf("pgcluster: %w", err)
	}
	f.Close()

	if c.owner == nil {
		return nil
	}
	for _, p := range []string{c.dir, c.sockDir, c.logPath} {
		if err := os.Lchown(p, c.owner.uid, c.owner.gid); err != nil {
			c.cleanupSock()
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	for _, p := range []string{filepath.Dir(c.dir), filepath.Dir(c.sockDir)} {
		if err := c.makeTraversable(p); err != nil {
			c.cleanupSock()
			return err
		}
	}
	return nil
}

// makeTraversable adds the search (x) bit for others to dir and every
// ancestor that the postgres user could not otherwise traverse.
func (c *Cluster) makeTraversable(dir string) error {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		canTraverse := mode&0o001 != 0 ||
			(ok && int(st.Uid) == c.owner.uid && mode&0o100 != 0) ||
			(ok && int(st.Gid) == c.owner.gid && mode&0o010 != 0)
		if !canTraverse {
			c.logf("pgcluster: chmod o+x %s so the postgres user can reach the cluster", p)
			if err := os.Chmod(p, fi.Mode()|0o001); err != nil {
				return fmt.Errorf("pgcluster: make %s traversable for postgres: %w", p, err)
			}
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.logf("pgcluster: initializing cluster in %s", c.dir)
	// initdb (as the postgres user, when root) reads the password from a
	// file it can open, in the private socket dir; the saved password file
	// stays private to us.
	pw, err := os.CreateTemp(c.sockDir, "pwfile-")
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer os.Remove(pw.Name())
	_, werr := pw.WriteString(c.password + "\n")
	cerr := pw.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("pgcluster: write pwfile: %w", err)
	}
	if c.owner != nil {
		if err := os.Chown(pw.Name(), c.owner.uid, c.owner.gid); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	cmd := c.command(ctx, "initdb",
		"-D", c.dir,
		"-U", superuser,
		"--auth=scram-sha-256",
		"--pwfile="+pw.Name(),
		"--encoding=UTF8",
		"--locale=C",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: initdb failed: %w\n%s", err, tail(string(out), 20))
	}
	return nil
}

var errPortInUse = errors.New("port already in use")

func (c *Cluster) start(ctx context.Context, fsync bool) error {
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("pgcluster: pick port: %w", err)
	}
	c.port = port
	o := []string{
		"-c listen_addresses=127.0.0.1",
		"-p " + strconv.Itoa(port),
		"-c unix_socket_directories=" + c.sockDir,
		"-c max_connections=200",
	}
	if !fsync {
		o = append(o, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
	}
	c.logf("pgcluster: starting server on 127.0.0.1:%d", port)
	logSize := fileSize(c.logPath)
	out, err := c.pgCtl(ctx, "start", "-w", "-t", "60", "-D", c.dir, "-l", c.logPath, "-o", strings.Join(o, " "))
	if err != nil {
		// pg_ctl may have launched a postmaster before failing or being
		// cancelled: make sure it is gone.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if running, _ := c.running(stopCtx); running {
			_, _ = c.pgCtl(stopCtx, "stop", "-D", c.dir, "-m", "immediate", "-w", "-t", "20")
		}
		cancel()
		newLog := readFrom(c.logPath, logSize)
		e := fmt.Errorf("pgcluster: pg_ctl start failed: %w\n%s%s", err, strings.TrimSpace(string(out)), c.logTail())
		if strings.Contains(newLog, "could not bind") || strings.Contains(newLog, "Address already in use") {
			return errors.Join(errPortInUse, e)
		}
		return e
	}

	// pg_ctl -w has seen the server ready; also make sure we can log in.
	deadline := time.Now().Add(readyTimeout)
	for {
		err := c.ping(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			_, _ = c.pgCtl(stopCtx, "stop", "-D", c.dir, "-m", "fast", "-w", "-t", "30")
			cancel()
			return fmt.Errorf("pgcluster: server on port %d does not accept connections: %w%s", port, err, c.logTail())
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(pctx, c.AdminURL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(pctx))
	return conn.Ping(pctx)
}

// ensureDatabase creates database "assetanchor" unless it exists. It runs on
// every start so an interrupted first start heals itself.
func (c *Cluster) ensureDatabase(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, c.AdminURL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(cctx))
	var found bool
	if err := conn.QueryRow(cctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", database).Scan(&found); err != nil {
		return fmt.Errorf("pgcluster: look up database: %w", err)
	}
	if found {
		return nil
	}
	c.logf("pgcluster: creating database %s", database)
	if _, err := conn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize()); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
			return nil
		}
		return fmt.Errorf("pgcluster: create database: %w", err)
	}
	return nil
}

// stopLeftover stops a server still running on Dir, e.g. one orphaned when a
// previous process was killed: it listens on a port nobody knows.
func (c *Cluster) stopLeftover(ctx context.Context) error {
	running, err := c.running(ctx)
	if err != nil || !running {
		return nil // pg_ctl start reports anything real
	}
	c.logf("pgcluster: stopping a server left running on %s", c.dir)
	if out, err := c.pgCtl(ctx, "stop", "-D", c.dir, "-m", "fast", "-w", "-t", "60"); err != nil {
		return fmt.Errorf("pgcluster: a server is already running on %s and could not be stopped: %w: %s", c.dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// running reports whether pg_ctl status sees a live server on Dir.
func (c *Cluster) running(ctx context.Context) (bool, error) {
	_, err := c.pgCtl(ctx, "status", "-D", c.dir)
	if err == nil {
		return true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 { // not running
		return false, nil
	}
	return false, err
}

func (c *Cluster) pgCtl(ctx context.Context, args ...string) ([]byte, error) {
	return c.command(ctx, "pg_ctl", args...).CombinedOutput()
}

// command builds an exec.Cmd for a server binary, run as the postgres user
// when we are root, in its own process group so a terminal's ^C reaches only
// us (we then stop the server cleanly).
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = filepath.Dir(c.dir)
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.owner != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{
			Uid: uint32(c.owner.uid),
			Gid: uint32(c.owner.gid),
		}
	}
	// On cancellation kill the whole group, e.g. initdb's bootstrap
	// backends too. (A postmaster started by pg_ctl has its own session
	// and is stopped with pg_ctl instead.)
	cmd.Cancel = func() error {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// cleanEnv drops libpq/server variables that could redirect the tools.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

func (c *Cluster) cleanupSock() {
	if c.tmpSock && c.sockDir != "" {
		_ = os.RemoveAll(c.sockDir)
	}
}

func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	return "\nlast lines of " + c.logPath + ":\n" + tail(string(b), 20)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func readFrom(p string, off int64) string {
	b, err := os.ReadFile(p)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// loadOrCreatePassword reads the saved password, or generates 32 random
// bytes (hex) and saves them with mode 0600.
func loadOrCreatePassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return "", fmt.Errorf("pgcluster: password file %s is empty", path)
		}
		return pw, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("pgcluster: generate password: %w", err)
	}
	pw := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("pgcluster: save password: %w", err)
	}
	_, werr := f.WriteString(pw + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("pgcluster: save password: %w", err)
	}
	return pw, nil
}

func lookupUser(name string) (*osUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, err
	}
	return &osUser{uid: uid, gid: gid}, nil
}

// chownTree gives everything under root to u, touching only entries that
// belong to someone else.
func chownTree(root string, u *osUser) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == u.uid && int(st.Gid) == u.gid {
			return nil
		}
		return os.Lchown(p, u.uid, u.gid)
	})
}

func exists(p string) (bool, error) {
	_, err := os.Stat(p)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}
