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
//
// It imports nothing of ours but cmd/internal.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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
