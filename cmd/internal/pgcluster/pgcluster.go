// Package pgcluster runs a private PostgreSQL cluster owned by the
// assetanchor binary: initdb on first use, a random loopback port on every
// start, and a clean fast shutdown.
//
// Several processes may use one cluster at a time (serve, and operator
// commands beside it). Each holds a shared flock on Dir.lock while it does;
// the first starts the server, the others attach to it (port and socket from
// its postmaster.pid), and the last one to stop stops it. Starting and
// stopping take turns on Dir.gate, so no process sees the server half up.
// AcquireExclusive takes the cluster for one process alone (a restore).
//
// Files live next to the cluster directory Dir:
//
//	Dir            the data directory (initdb)
//	Dir.password   the generated superuser password (mode 0600, reused)
//	Dir.log        the server log (pg_ctl -l), appended across starts
//	Dir.sock       the Unix socket directory (a short /tmp dir if too long)
//	Dir.lock       held shared by every process using the cluster
//	Dir.gate       held exclusively while a process starts or stops it
//
// For the default Dir ./.assetanchor/postgres these are
// ./.assetanchor/postgres.password, ./.assetanchor/postgres.log and so on.
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
	"log/slog"
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

	// tmpSockPrefix names the /tmp socket directories of clusters whose own
	// path is too long for one.
	tmpSockPrefix = "aapg-"
)

// Options configures Start.
type Options struct {
	// Dir is the cluster (data) directory, e.g. ./.assetanchor/postgres.
	// It is created if missing.
	Dir string
	// Fsync false makes a throwaway cluster: fsync=off,
	// synchronous_commit=off, full_page_writes=off.
	Fsync bool
	// Log, if set, receives progress lines, and the output of a server
	// binary that failed (errors stay one line).
	Log *slog.Logger
	// Settings are extra server settings, name to value, passed as -c on the
	// command line when this process starts the server (such as archive_mode);
	// a value must not hold a single quote.
	Settings map[string]string
}

// ErrInUse means another process uses the cluster, so it cannot be had
// exclusively.
var ErrInUse = errors.New("another assetanchor process uses the PostgreSQL cluster")

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
	log      *slog.Logger

	mu      sync.Mutex
	usage   *os.File // Dir.lock, held shared until Stop
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

// Start makes the cluster available to this process. If no other process
// uses it, Start initialises it if Dir holds none, then starts the server on a
// random free port on 127.0.0.1 (a server still running then is a leftover of
// a process that died, and is stopped first) and waits until it accepts
// connections. If another process uses it, Start attaches to that server.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if c.password, err = loadOrCreatePassword(c.dir + ".password"); err != nil {
		return nil, err
	}
	gate, err := c.lockGate(ctx)
	if err != nil {
		return nil, err
	}
	defer gate.Close()
	usage, err := os.OpenFile(c.dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	err = flock(usage, syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		if err := c.startServer(ctx, opts.Fsync, opts.Settings); err != nil {
			usage.Close()
			return nil, err
		}
		// From now on others may share it; the gate keeps them waiting until
		// the lock is shared.
		if err = flock(usage, syscall.LOCK_SH); err != nil {
			_ = c.stopServer(context.WithoutCancel(ctx))
		}
	case errors.Is(err, syscall.EWOULDBLOCK):
		err = flock(usage, syscall.LOCK_SH|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			usage.Close()
			return nil, fmt.Errorf("pgcluster: another assetanchor process has the cluster in %s to itself "+
				"(a restore?): try again when it is done", c.dir)
		}
		if err == nil {
			err = c.attach(ctx)
		}
	}
	if err != nil {
		usage.Close()
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c.usage = usage
	return c, nil
}

// newCluster checks opts and finds the binaries and the server's OS user.
func newCluster(opts Options) (*Cluster, error) {
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
		log:     opts.Log,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
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
	return c, nil
}

// startServer initialises the cluster if need be and starts the server.
func (c *Cluster) startServer(ctx context.Context, fsync bool, settings map[string]string) error {
	if err := c.prepareFiles(); err != nil {
		return err
	}
	initialized, err := exists(filepath.Join(c.dir, "PG_VERSION"))
	if err != nil {
		c.cleanupSock()
		return fmt.Errorf("pgcluster: %w", err)
	}
	if !initialized {
		if err := c.initdb(ctx); err != nil {
			c.cleanupSock()
			return err
		}
	} else if c.owner != nil {
		if err := chownTree(c.dir, c.owner); err != nil {
			c.cleanupSock()
			return fmt.Errorf("pgcluster: %w", err)
		}
	}

	if err := c.stopLeftover(ctx); err != nil {
		c.cleanupSock()
		return err
	}

	var startErr error
	for attempt := 0; attempt < 3; attempt++ {
		startErr = c.start(ctx, fsync, settings)
		if startErr == nil || !errors.Is(startErr, errPortInUse) || ctx.Err() != nil {
			break
		}
	}
	if startErr != nil {
		c.cleanupSock()
		return startErr
	}

	if err := c.ensureDatabase(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = c.stopServer(stopCtx)
		return err
	}
	c.log.Info("PostgreSQL server ready", "addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), "data", c.dir)
	return nil
}

// attach points c at the server that another process started on Dir, as its
// postmaster.pid says.
func (c *Cluster) attach(ctx context.Context) error {
	port, sockDir, err := readPostmasterPID(c.dir)
	if err != nil {
		return fmt.Errorf("another process uses the cluster in %s, but its server is not running (%v): "+
			"stop that process, then try again", c.dir, err)
	}
	c.port, c.sockDir = port, sockDir
	c.tmpSock = filepath.Dir(sockDir) == "/tmp" && strings.HasPrefix(filepath.Base(sockDir), tmpSockPrefix)
	if err := c.ping(ctx); err != nil {
		return fmt.Errorf("another process uses the cluster in %s, but its server on port %d does not answer: %w",
			c.dir, port, err)
	}
	c.log.Info("PostgreSQL server already running for another process: using it",
		"addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), "data", c.dir)
	return nil
}

// readPostmasterPID reads the port and the first socket directory of the
// running server from Dir/postmaster.pid (lines 4 and 5).
func readPostmasterPID(dir string) (port int, sockDir string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, "", err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 5 {
		return 0, "", errors.New("postmaster.pid is incomplete")
	}
	port, err = strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil || port <= 0 {
		return 0, "", fmt.Errorf("postmaster.pid has no port: %q", lines[3])
	}
	return port, strings.TrimSpace(lines[4]), nil
}

// Dir is the cluster's data directory (absolute).
func (c *Cluster) Dir() string { return c.dir }

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// SocketDir is the directory of the server's Unix socket.
func (c *Cluster) SocketDir() string { return c.sockDir }

// User is the superuser's name.
func (c *Cluster) User() string { return superuser }

// Password is the superuser's password.
func (c *Cluster) Password() string { return c.password }

// BinDir is the directory of the server binaries in use.
func (c *Cluster) BinDir() string { return c.bin }

// ServerOwner is the OS user the server runs as when this process is root
// ("postgres"); ok is false when the process is not root and runs the
// server as itself.
func ServerOwner() (uid, gid int, ok bool, err error) {
	if os.Geteuid() != 0 {
		return 0, 0, false, nil
	}
	u, err := lookupUser("postgres")
	if err != nil {
		return 0, 0, false, fmt.Errorf("pgcluster: running as root needs the postgres OS user: %w", err)
	}
	return u.uid, u.gid, true, nil
}

// MakeTraversable lets the server's OS user reach dir: as root, it adds the
// search bit for others to dir and each ancestor that user could not
// otherwise traverse. Not root, it does nothing.
func MakeTraversable(dir string) error {
	uid, gid, ok, err := ServerOwner()
	if err != nil || !ok {
		return err
	}
	c := &Cluster{owner: &osUser{uid: uid, gid: gid}, log: slog.New(slog.DiscardHandler)}
	return c.makeTraversable(dir)
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

// Stop ends this process's use of the cluster. The last process using it
// shuts the server down (pg_ctl stop -m fast) and waits for it; others leave
// it running. Calling Stop again after a successful stop does nothing.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	gate, err := c.lockGate(ctx)
	if err != nil {
		return err
	}
	defer gate.Close()
	// Only the last user gets the lock exclusively. (A failed attempt drops
	// the shared lock too: the file is closed just below anyway.)
	err = flock(c.usage, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		c.log.Info("PostgreSQL server left running for the other processes using it", "data", c.dir)
	} else if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	} else if err := c.stopServer(ctx); err != nil {
		return err
	}
	c.stopped = true
	return c.usage.Close()
}

// stopServer shuts the server down (pg_ctl stop -m fast) and waits for it.
func (c *Cluster) stopServer(ctx context.Context) error {
	out, err := c.pgCtl(ctx, "stop", "-D", c.dir, "-m", "fast", "-w", "-t", "60")
	if err != nil {
		running, serr := c.running(context.WithoutCancel(ctx))
		if serr == nil && !running {
			// Nothing left to stop (the server already went away).
			c.log.Info("PostgreSQL server was not running", "data", c.dir, "output", strings.TrimSpace(string(out)))
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
		c.logOutput("pg_ctl stop failed", string(out))
		return fmt.Errorf("pgcluster: pg_ctl stop: %w%s", err, c.seeLog())
	}
	c.cleanupSock()
	c.log.Info("PostgreSQL server stopped", "data", c.dir)
	return nil
}

// AcquireExclusive takes the cluster for this process alone, with no server
// running, as a restore of its files needs: it fails with ErrInUse while
// another process (a running serve, an operator command) uses it, and stops
// a server left running by a process that died. Release gives it back.
func AcquireExclusive(ctx context.Context, opts Options) (*Exclusive, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	gate, err := c.lockGate(ctx)
	if err != nil {
		return nil, err
	}
	defer gate.Close()
	f, err := os.OpenFile(c.dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w in %s: stop `assetanchor serve` (and any other assetanchor command "+
				"on this data dir) first", ErrInUse, c.dir)
		}
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.stopLeftover(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return &Exclusive{lock: f}, nil
}

// Exclusive is the sole use of a cluster, from AcquireExclusive.
type Exclusive struct {
	lock *os.File
}

// Release lets other processes use the cluster again.
func (e *Exclusive) Release() error {
	return e.lock.Close()
}

// lockGate takes Dir.gate, waiting while another process starts or stops the
// server. Closing the file releases it.
func (c *Cluster) lockGate(ctx context.Context) (*os.File, error) {
	f, err := os.OpenFile(c.dir+".gate", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	for waited := false; ; waited = true {
		err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
		if !waited {
			c.log.Info("waiting for another process to finish starting or stopping the PostgreSQL server", "data", c.dir)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("pgcluster: wait for another process to start or stop the server: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// flock is syscall.Flock on f, retried when a signal interrupts it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return fmt.Errorf("lock %s: %w", f.Name(), err)
			}
			return nil
		}
	}
}

// prepareFiles creates the data, socket and log paths and, as root, hands
// them to the postgres user and makes their parents traversable.
func (c *Cluster) prepareFiles() error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	c.sockDir = c.dir + ".sock"
	if len(c.sockDir) > maxSocketDirLen || strings.ContainsAny(c.sockDir, " ,'\"") {
		d, err := os.MkdirTemp("/tmp", tmpSockPrefix)
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
			c.log.Info("chmod o+x so the postgres OS user can reach the PostgreSQL cluster", "path", p)
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
	c.log.Info("initializing the PostgreSQL cluster", "data", c.dir)
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
		c.logOutput("initdb failed", string(out))
		return fmt.Errorf("pgcluster: initdb: %w (its output is in the log)", err)
	}
	return nil
}

var errPortInUse = errors.New("port already in use")

func (c *Cluster) start(ctx context.Context, fsync bool, settings map[string]string) error {
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
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// pg_ctl hands -o to a shell: single quotes keep a value with spaces whole.
		if strings.ContainsAny(name+settings[name], "'\n") {
			return fmt.Errorf("pgcluster: unsupported character in setting %s", name)
		}
		o = append(o, "-c '"+name+"="+settings[name]+"'")
	}
	c.log.Info("starting the PostgreSQL server", "addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "data", c.dir)
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
		c.logOutput("pg_ctl start failed", string(out))
		e := fmt.Errorf("pgcluster: pg_ctl start: %w%s", err, c.seeLog())
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
			c.logOutput("PostgreSQL server does not accept connections", "")
			return fmt.Errorf("pgcluster: server on port %d does not accept connections: %w%s", port, err, c.seeLog())
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
	c.log.Info("creating the database", "database", database)
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
	c.log.Info("stopping a PostgreSQL server left running by a process that ended", "data", c.dir)
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

// logOutput logs a failed server binary's output and the server log's last
// lines as one record (the server writes its log to Dir.log, not to us).
func (c *Cluster) logOutput(msg, out string) {
	attrs := []any{"data", c.dir}
	if out = strings.TrimSpace(out); out != "" {
		attrs = append(attrs, "output", tail(out, 20))
	}
	if b, err := os.ReadFile(c.logPath); err == nil && len(bytes.TrimSpace(b)) > 0 {
		attrs = append(attrs, "server_log", c.logPath, "server_log_tail", tail(string(b), 20))
	}
	c.log.Error(msg, attrs...)
}

// seeLog points an error message at the server log.
func (c *Cluster) seeLog() string {
	return " (server log: " + c.logPath + ")"
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
	// Written aside and linked into place, so that a process starting at the
	// same moment reads the whole password or none, never an empty file; the
	// link fails if one was there first, and then that one is the password.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new-*")
	if err != nil {
		return "", fmt.Errorf("pgcluster: save password: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(pw + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return "", fmt.Errorf("pgcluster: save password: %w", err)
	}
	if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
		return loadOrCreatePassword(path)
	} else if err != nil {
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
