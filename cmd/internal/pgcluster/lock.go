package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

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
