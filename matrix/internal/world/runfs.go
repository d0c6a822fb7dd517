package world

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// RunFS makes, changes and removes entries under the run directory for the
// suite's own process. On Unix every call goes through an os.Root opened on
// the run directory when it was created: names are resolved inside it one
// component at a time, no symlink leads out of it, and a final symlink is
// not followed where the call has a no-follow form (Mkdir, Remove, Lstat,
// Chmod through fchmodat2 or O_PATH). Scenario directories are writable by
// other uids, so a plain path under them could be redirected between a
// check and a use; the handle cannot. On Windows (one user, and Wine lacks
// some of the calls os.Root makes) the paths are used directly.
//
// RunFS is safe for concurrent use; close releases the handle.
type RunFS struct {
	dir  string
	Root *os.Root // nil on Windows
	// Owners maps each entry text tree has listed to its owner's uid (the
	// text holds the uid, so one text has one owner): daemonsOnly reads
	// it, since a name another uid chose can imitate any text.
	Owners sync.Map
}

func OpenRunFS(dir string) (*RunFS, error) {
	f := &RunFS{dir: filepath.Clean(dir)}
	if runtime.GOOS == "windows" {
		return f, nil
	}
	r, err := os.OpenRoot(f.dir)
	if err != nil {
		return nil, err
	}
	f.Root = r
	return f, nil
}

func (f *RunFS) Close() {
	if f.Root != nil {
		f.Root.Close()
	}
}

// Rel is p relative to the run directory; p must lie inside it.
func (f *RunFS) Rel(p string) (string, error) {
	r, err := filepath.Rel(f.dir, filepath.Clean(p))
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
		return "", fmt.Errorf("%s is outside the run directory %s", p, f.dir)
	}
	return r, nil
}

// MkdirMode creates the directory p with mode, which may hold
// os.ModeSticky (0o1777 as a number would lose the sticky bit: Go's
// os.FileMode keeps it apart from the permission bits). The directory is
// made 0700 first and then chmodded, so the suite's umask plays no part
// and the suite never changes its umask.
//
// Race point: between mkdir and chmod another uid with write access to the
// parent could try to put something else at p. The parent is the run
// directory (root only) or a sticky directory the suite made, where only
// the owner of an entry may rename or remove it, and the chmod
// (chmodNoFollowIn) walks from the run directory's handle without
// following any link and fchmods the directory it opened, so it can only
// reach a directory of ours or fail (os.Root's Chmod would follow a final
// link that stays inside the root).
func (f *RunFS) MkdirMode(p string, mode os.FileMode) error {
	if f.Root == nil {
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
		return os.Chmod(p, mode)
	}
	r, err := f.Rel(p)
	if err != nil {
		return err
	}
	if err := f.Root.Mkdir(r, 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	if err := ChmodNoFollowIn(f.Root, r, mode); err != nil {
		return fmt.Errorf("chmod %s %v: %w", p, mode, err)
	}
	return nil
}

// ChmodTop sets the mode of the run directory itself, through its handle.
func (f *RunFS) ChmodTop(mode os.FileMode) error {
	if f.Root == nil {
		return os.Chmod(f.dir, mode)
	}
	return f.Root.Chmod(".", mode)
}

// Chmod changes the mode of p, a directory of ours under the run
// directory, walking from the handle without following a link
// (chmodNoFollowIn); mode may hold os.ModeSticky.
func (f *RunFS) Chmod(p string, mode os.FileMode) error {
	if f.Root == nil {
		return os.Chmod(p, mode)
	}
	r, err := f.Rel(p)
	if err != nil {
		return err
	}
	return ChmodNoFollowIn(f.Root, r, mode)
}

// Remove removes p (a file, link or empty directory) without following it.
func (f *RunFS) Remove(p string) error {
	if f.Root == nil {
		return os.Remove(p)
	}
	r, err := f.Rel(p)
	if err != nil {
		return err
	}
	return f.Root.Remove(r)
}

// Lstat is p's facts, read through the handle without following a final
// link.
func (f *RunFS) Lstat(p string) (os.FileInfo, error) {
	if f.Root == nil {
		return os.Lstat(p)
	}
	r, err := f.Rel(p)
	if err != nil {
		return nil, err
	}
	return f.Root.Lstat(r)
}

// Tree lists every entry under dir as "relative/path (facts)", sorted,
// leaving out skip and what it holds. On Unix it walks an os.Root opened
// inside the run directory's handle (os.Root's fs.FS never leaves it) and
// reads each entry's facts there without following it.
func (f *RunFS) Tree(dir, skip string) []string {
	var out []string
	if f.Root == nil {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == dir {
				return nil
			}
			if skip != "" && p == skip {
				return filepath.SkipDir
			}
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel+" ("+Describe(p)+")")
			return nil
		})
		sort.Strings(out)
		return out
	}
	var sub *os.Root
	if rel, err := f.Rel(dir); err == nil {
		sub, err = f.Root.OpenRoot(rel)
		if err != nil {
			return nil
		}
	} else {
		// Outside the run directory: the sun_path fallback under /tmp. Only
		// read there, never written; a link at dir itself is not followed,
		// and a swap of a parent can change only what is reported.
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			return nil
		}
		if sub, err = os.OpenRoot(dir); err != nil {
			return nil
		}
	}
	defer sub.Close()
	skipRel := ""
	if skip != "" {
		if r, err := filepath.Rel(dir, skip); err == nil {
			skipRel = filepath.ToSlash(r)
		}
	}
	fs.WalkDir(sub.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return nil
		}
		if skipRel != "" && p == skipRel {
			return fs.SkipDir
		}
		name := filepath.FromSlash(p)
		desc := "missing"
		if fi, err := sub.Lstat(name); err == nil {
			link := ""
			if fi.Mode()&os.ModeSymlink != 0 {
				link, _ = sub.Readlink(name)
			}
			desc = describeInfo(fi, link)
			if uid, ok := ownerOf(fi); ok {
				f.Owners.Store(name+" ("+desc+")", uid)
			}
		}
		out = append(out, name+" ("+desc+")")
		return nil
	})
	sort.Strings(out)
	return out
}
