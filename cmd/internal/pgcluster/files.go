package pgcluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

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
