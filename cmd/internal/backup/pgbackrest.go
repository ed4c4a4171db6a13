// Package backup drives pgBackRest against the private PostgreSQL cluster
// (cmd/internal/pgcluster), and keeps beside its repository what lives outside
// PostgreSQL: the document bytes and a journal of tenant erasures.
//
// Files, for data dir D and backup dir B (ASSETANCHOR_BACKUP_DIR, D/backups):
//
//	B/pgbackrest         the pgBackRest repository (repo1-path)
//	B/documents/<sha256> every document's bytes, archived as they are committed
//	B/erasures.jsonl     the erasure journal, one JSON object a line, append-only
//	D/pgbackrest/pgbackrest.conf  its configuration (mode 0600, the server's user)
//	D/pgbackrest/archive-push     the server's archive_command
//	D/pgbackrest/enabled          present once the stanza exists and `check` passed
//	D/pgbackrest/log, D/pgbackrest/lock  pgBackRest's log and lock paths
//
// WAL archiving: the server always runs with archive_mode=on and
// archive_command=D/pgbackrest/archive-push. That script pushes with pgBackRest
// when "enabled" exists and pgbackrest is installed, and otherwise reports
// success, so PostgreSQL recycles the segment: pg_wal never fills while
// backups are not set up. pgBackRest's archive-push-queue-max does the same
// when pushing fails for long.
//
// pgBackRest runs as the server's OS user (postgres when we are root), since
// files it writes as root would break archive-push, with the socket, port and
// password of the running server passed on each call.
//
// It must not import commands, projections or http.
package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/assetanchor/assetanchor/cmd/internal/pgcluster"
)

// Stanza is the pgBackRest stanza of the private cluster.
const Stanza = "assetanchor"

// ErrNotInstalled means the pgbackrest binary is not on PATH.
var ErrNotInstalled = errors.New("pgbackrest is not installed (apt-get install pgbackrest)")

// DefaultArchiveTimeout is archive_timeout: the longest a committed write waits
// before its WAL segment is switched and archived.
const DefaultArchiveTimeout = 60 * time.Second

// Repo is the backup setup of one data dir.
type Repo struct {
	DataDir    string // the data dir
	Dir        string // the backup dir
	ClusterDir string // the cluster's data directory (DataDir/postgres)
	Log        *slog.Logger
}

// Server is how to reach the running cluster, passed to pgBackRest on each call.
type Server struct {
	Port      int
	SocketDir string
	User      string
	Password  string
}

// ServerOf describes a running cluster.
func ServerOf(c *pgcluster.Cluster) Server {
	return Server{Port: c.Port(), SocketDir: c.SocketDir(), User: c.User(), Password: c.Password()}
}

func (r *Repo) confDir() string  { return filepath.Join(r.DataDir, "pgbackrest") }
func (r *Repo) confPath() string { return filepath.Join(r.confDir(), "pgbackrest.conf") }
func (r *Repo) scriptPath() string {
	return filepath.Join(r.confDir(), "archive-push")
}
func (r *Repo) enabledPath() string { return filepath.Join(r.confDir(), "enabled") }

// RepoPath is the pgBackRest repository.
func (r *Repo) RepoPath() string { return filepath.Join(r.Dir, "pgbackrest") }

// Binary finds pgbackrest on PATH.
func Binary() (string, error) {
	p, err := exec.LookPath("pgbackrest")
	if err != nil {
		return "", ErrNotInstalled
	}
	return p, nil
}

// ServerSettings prepares the archive_command script and returns the settings
// the cluster must start with. It needs no pgbackrest: without it, WAL is
// recycled as if archiving were off.
func (r *Repo) ServerSettings(archiveTimeout time.Duration) (map[string]string, error) {
	if err := r.prepareDirs(); err != nil {
		return nil, err
	}
	if strings.ContainsAny(r.confDir(), "'\"$`\\ \n") {
		return nil, fmt.Errorf("backup: unsupported character in data dir path %q", r.DataDir)
	}
	// The script runs as the server's user on every WAL segment; it is ours
	// (root's when root), readable and executable by all.
	script := `#!/bin/sh
# Written by assetanchor: PostgreSQL's archive_command. Pushes a WAL segment
# with pgBackRest once backups are set up; until then (or without pgbackrest)
# reports success so that PostgreSQL recycles it and pg_wal never fills.
[ -f '` + r.enabledPath() + `' ] || exit 0
command -v pgbackrest >/dev/null 2>&1 || exit 0
exec pgbackrest --config='` + r.confPath() + `' --stanza=` + Stanza + ` archive-push "$1"
`
	if err := writeFileAtomic(r.scriptPath(), []byte(script), 0o755); err != nil {
		return nil, fmt.Errorf("write archive_command: %w", err)
	}
	if archiveTimeout <= 0 {
		archiveTimeout = DefaultArchiveTimeout
	}
	return map[string]string{
		"archive_mode":    "on",
		"archive_command": r.scriptPath() + " %p",
		"archive_timeout": strconv.Itoa(int(archiveTimeout.Seconds())) + "s",
		"wal_level":       "replica",
	}, nil
}

// prepareDirs creates the configuration, log, lock and repository directories,
// owned by the server's user and reachable by it.
func (r *Repo) prepareDirs() error {
	uid, gid, root, err := pgcluster.ServerOwner()
	if err != nil {
		return err
	}
	for _, d := range []string{r.confDir(), filepath.Join(r.confDir(), "log"), filepath.Join(r.confDir(), "lock"), r.RepoPath()} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	for _, d := range []string{filepath.Join(r.confDir(), "log"), filepath.Join(r.confDir(), "lock"), r.RepoPath()} {
		if root {
			if err := chownTree(d, uid, gid); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
		}
	}
	if root {
		if err := os.Chmod(r.confDir(), 0o755); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		for _, d := range []string{r.confDir(), r.RepoPath()} {
			if err := pgcluster.MakeTraversable(filepath.Dir(d)); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeConf writes pgbackrest.conf, readable by the server's user only.
func (r *Repo) writeConf() error {
	conf := fmt.Sprintf(`# Written by assetanchor on every start; edits are lost.
[global]
repo1-path=%s
# Retention is assetanchor's (daily, weekly, monthly tiers and the PITR
# window): it expires sets by label, so pgBackRest's own count never does.
repo1-retention-full=9999999
log-path=%s
lock-path=%s
log-level-console=warn
log-level-stderr=warn
log-level-file=info
start-fast=y
compress-type=lz4
# When pushing WAL fails for this long a queue, drop it rather than fill pg_wal.
archive-push-queue-max=4GiB

[%s]
pg1-path=%s
`, r.RepoPath(), filepath.Join(r.confDir(), "log"), filepath.Join(r.confDir(), "lock"), Stanza, r.ClusterDir)
	if err := writeFileAtomic(r.confPath(), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("write pgbackrest.conf: %w", err)
	}
	if uid, gid, root, err := pgcluster.ServerOwner(); err != nil {
		return err
	} else if root {
		return os.Chown(r.confPath(), uid, gid)
	}
	return nil
}

// Enabled reports whether WAL is being archived (Setup succeeded).
func (r *Repo) Enabled() bool {
	_, err := os.Stat(r.enabledPath())
	return err == nil
}

// Setup creates the stanza and turns WAL archiving on once `check` sees a
// segment archived; if check fails, archiving goes back off. It is idempotent
// and runs at each serve start and before each backup command.
func (r *Repo) Setup(ctx context.Context, srv Server) error {
	if _, err := Binary(); err != nil {
		_ = os.Remove(r.enabledPath())
		return err
	}
	if err := r.prepareDirs(); err != nil {
		return err
	}
	if err := r.writeConf(); err != nil {
		return err
	}
	if _, err := r.run(ctx, &srv, "stanza-create"); err != nil {
		_ = os.Remove(r.enabledPath())
		return err
	}
	if err := writeFileAtomic(r.enabledPath(), []byte("WAL archiving on: pgbackrest stanza-create and check passed\n"), 0o644); err != nil {
		return fmt.Errorf("turn WAL archiving on: %w", err)
	}
	if _, err := r.run(ctx, &srv, "check"); err != nil {
		_ = os.Remove(r.enabledPath())
		return err
	}
	return nil
}

// Type is a backup's kind.
type Type string

// Backup types.
const (
	Full        Type = "full"
	Incremental Type = "incr"
)

// Create takes an online backup; pgBackRest makes the first one full whatever
// typ says.
func (r *Repo) Create(ctx context.Context, srv Server, typ Type) (Set, error) {
	if typ != Full && typ != Incremental {
		return Set{}, fmt.Errorf("backup: unknown type %q", typ)
	}
	if _, err := r.run(ctx, &srv, "backup", "--type="+string(typ)); err != nil {
		return Set{}, err
	}
	info, err := r.Info(ctx)
	if err != nil {
		return Set{}, err
	}
	if len(info.Sets) == 0 {
		return Set{}, errors.New("backup: pgbackrest reports no backup after taking one")
	}
	return info.Sets[len(info.Sets)-1], nil
}

// Expire removes the sets labelled drop (and what depends on them), then the
// WAL older than the keepWAL newest backups need, which is what point-in-time
// recovery over the window uses; older kept sets keep the WAL that makes them
// consistent.
func (r *Repo) Expire(ctx context.Context, drop []string, keepWAL int) error {
	for _, label := range drop {
		if _, err := r.run(ctx, nil, "expire", "--set="+label,
			"--repo1-retention-archive-type=incr", "--repo1-retention-archive=9999999"); err != nil {
			return err
		}
	}
	if keepWAL < 1 {
		return nil
	}
	_, err := r.run(ctx, nil, "expire", "--repo1-retention-archive-type=incr",
		"--repo1-retention-archive="+strconv.Itoa(keepWAL))
	return err
}

// Restore puts the cluster directory back as it was at target (zero: the end
// of the archived WAL). The server must be stopped; the next start replays WAL
// up to target and then opens for writes (a new timeline).
func (r *Repo) Restore(ctx context.Context, target time.Time) error {
	if err := r.writeConf(); err != nil {
		return err
	}
	args := []string{"restore", "--delta", "--target-action=promote"}
	if !target.IsZero() {
		args = append(args, "--type=time", "--target="+target.UTC().Format("2006-01-02 15:04:05.999999")+"+00")
	}
	_, err := r.run(ctx, nil, args...)
	return err
}

// run runs pgbackrest as the server's OS user with our configuration; srv, if
// given, says where the server listens. Our processes take turns (serve's
// schedule and an operator's command would otherwise meet on pgBackRest's
// locks), and a lock held by the server's archive-push is waited out.
func (r *Repo) run(ctx context.Context, srv *Server, args ...string) ([]byte, error) {
	if args[0] != "info" {
		unlock, err := r.lock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	for attempt := 1; ; attempt++ {
		out, err := r.runOnce(ctx, srv, args...)
		if err == nil || attempt == 20 || !strings.Contains(err.Error(), "unable to acquire lock") {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// lock takes D/pgbackrest/assetanchor.lock, waiting while another of our
// processes runs pgbackrest.
func (r *Repo) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(r.confDir(), "assetanchor.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("backup: lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("backup: wait for another assetanchor process's pgbackrest: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *Repo) runOnce(ctx context.Context, srv *Server, args ...string) ([]byte, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	full := []string{"--config=" + r.confPath(), "--stanza=" + Stanza}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "PGBACKREST_") {
			env = append(env, kv)
		}
	}
	if srv != nil {
		full = append(full, "--pg1-port="+strconv.Itoa(srv.Port), "--pg1-socket-path="+srv.SocketDir, "--pg1-user="+srv.User)
		env = append(env, "PGPASSWORD="+srv.Password)
	}
	cmd := exec.CommandContext(ctx, bin, append(full, args...)...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if uid, gid, root, err := pgcluster.ServerOwner(); err != nil {
		return nil, err
	} else if root {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	err = cmd.Run()
	if r.Log != nil {
		r.Log.DebugContext(ctx, "pgbackrest", "args", args, "elapsed", time.Since(started).Round(time.Millisecond))
	}
	if err != nil {
		return nil, fmt.Errorf("pgbackrest %s: %w: %s", args[0], err, lastLines(stderr.String()+stdout.String(), 3))
	}
	return stdout.Bytes(), nil
}

// lastLines keeps a tool's last lines of output, on one line.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// chownTree gives everything under root to uid:gid, touching only what
// belongs to someone else.
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		return os.Lchown(p, uid, gid)
	})
}

// writeFileAtomic writes b to a temporary file beside path, syncs it, and
// renames it over path.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) //nolint:errcheck // gone after the rename
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), mode); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
