// Package durable writes files whole or not at all, and durably: the key files,
// anchors and exports that must never be found half written after a crash. It
// imports nothing of ours.
package durable

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrExists refuses to replace a file that WriteNew finds.
var ErrExists = errors.New("it exists already")

// Write writes path with perm from what write produces: into a temporary file
// beside it, synced, then renamed over path and the directory synced. A failed
// write leaves path as it was.
func Write(path string, perm os.FileMode, write func(io.Writer) error) error {
	return put(path, perm, write, os.Rename)
}

// WriteNew is Write that never replaces an existing file (ErrExists): the new
// name is a hard link, which, unlike a rename, fails rather than replace.
func WriteNew(path string, perm os.FileMode, write func(io.Writer) error) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("write %s: %w", path, ErrExists)
	}
	return put(path, perm, write, os.Link)
}

func put(path string, perm os.FileMode, write func(io.Writer) error, name func(oldpath, newpath string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename; a link leaves it
	err = tmp.Chmod(perm)
	if err == nil {
		err = write(tmp)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = name(tmp.Name(), path)
	}
	if errors.Is(err, os.ErrExist) {
		err = ErrExists
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable where the platform allows
		d.Close()
	}
	return nil
}
