package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

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
	port, err := FreePort()
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

// FreePort picks a loopback TCP port that nothing listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}
