package pgcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// StartReplica makes a streaming replica of the running cluster c in dir
// (pg_basebackup -R: a copy of c that follows its WAL as a hot standby) and
// starts it on a free port; Stop stops it. The primary's defaults
// (wal_level replica, wal senders, pg_hba's replication lines) allow it. For
// tests; the replica is private to the caller and never shared.
func (c *Cluster) StartReplica(ctx context.Context, dir string) (*Cluster, error) {
	r, err := newCluster(Options{Dir: dir, Log: c.log})
	if err != nil {
		return nil, err
	}
	r.password = c.password
	if err := r.prepareFiles(); err != nil {
		return nil, err
	}
	// pg_basebackup reads the password from a file only it may read.
	pass := filepath.Join(r.sockDir, "pgpass")
	line := fmt.Sprintf("127.0.0.1:%d:*:%s:%s\n", c.port, superuser, c.password)
	if err := os.WriteFile(pass, []byte(line), 0o600); err != nil {
		r.cleanupSock()
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	defer os.Remove(pass)
	if r.owner != nil {
		if err := os.Chown(pass, r.owner.uid, r.owner.gid); err != nil {
			r.cleanupSock()
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}
	cmd := r.command(ctx, "pg_basebackup", "-D", r.dir, "-R", "-X", "stream", "--checkpoint=fast",
		"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", superuser, "-w")
	cmd.Env = append(cmd.Env, "PGPASSFILE="+pass)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.cleanupSock()
		return nil, fmt.Errorf("pgcluster: pg_basebackup: %w: %s", err, tail(string(out), 10))
	}
	var startErr error
	for attempt := 0; attempt < 3; attempt++ {
		if startErr = r.start(ctx, false, nil); startErr == nil {
			break
		}
	}
	if startErr != nil {
		r.cleanupSock()
		return nil, startErr
	}
	r.log.Info("PostgreSQL replica ready", "addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)), "data", r.dir)
	return r, nil
}

// StopReplica stops a replica StartReplica started.
func (c *Cluster) StopReplica(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return c.stopServer(ctx)
}
