//go:build unix

package ipc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// listPOSIX lists the endpoints in the root directory abs and in its
// fallback directories, where Listen and Dial put them (see resolveUID):
// $XDG_RUNTIME_DIR/bh/<tag> when $XDG_RUNTIME_DIR is a private directory of
// ours, and /tmp/bh-<uid>/<tag> (used then only by names too long for the
// first). A fallback is read through the chain Dial verifies (openChain
// with dirVerify); one that is missing is skipped silently, one that fails
// verification or cannot be read is skipped with a warning (o.warn), so
// another uid holding /tmp/bh-<uid> cannot make the whole list fail.
func listPOSIX(abs string, o *options) ([]Endpoint, error) {
	// The root is the caller's choice (often a shared /tmp): opened as
	// given, not required to be ours; only its entries are read.
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	out, err := listDir(fd, abs, o)
	unix.Close(fd) // a read-only directory handle: nothing to lose
	if err != nil {
		return nil, err
	}
	base := fallbackBase(os.Geteuid())
	tmp := Layout{Transport: TransportUnix, Root: abs, Fallback: true, Parents: []string{base, base + "/" + rootTag(abs)}}
	type chain struct {
		lay  Layout
		warn bool
	}
	chains := []chain{{tmp, true}}
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" && isOwnPrivateDir(xdg) {
		if alt, ok := altFallbackLayout(runtime.GOOS, tmp, xdg); ok {
			// Only names too long for the base under $XDG_RUNTIME_DIR
			// use /tmp/bh-<uid>: no warning about it.
			chains = []chain{{alt, true}, {tmp, false}}
		}
	}
	for _, c := range chains {
		eps, err := listFallback(c.lay.Parents[0], c.lay.Parents[1])
		switch {
		case err == nil:
			out = append(out, eps...)
		case errors.Is(err, fs.ErrNotExist) || !c.warn:
			// no fallback in use there
		default:
			o.warn(fmt.Errorf("ipc: list: skipped fallback directory %s: %w", c.lay.Parents[1], err))
		}
	}
	return out, nil
}

// listFallback reads the fallback directory tagged (inside base) through
// verified handles.
func listFallback(base, tagged string) ([]Endpoint, error) {
	parents, dir, err := openChain(Layout{Parents: []string{base}, Dir: tagged}, dirVerify)
	defer closeChain(parents, dir)
	if err != nil {
		return nil, err
	}
	return listDir(dir.fd, tagged, nil)
}

// listDir lists the endpoints (bu-NAME.d directories of ours holding a
// socket "sock" or a regular file "port") in the open directory dfd named
// path. Entries are examined relative to the handle without following
// links. Directories of other uids are skipped and, when o is not nil,
// counted in one warning.
func listDir(dfd int, path string, o *options) ([]Endpoint, error) {
	fd, err := unix.Dup(dfd)
	if err != nil {
		return nil, fmt.Errorf("ipc: dup %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	ents, err := f.ReadDir(-1)
	f.Close() // a read-only directory handle: nothing to lose
	if err != nil {
		return nil, err
	}
	uid := uint32(os.Geteuid())
	var out []Endpoint
	var foreign []string
	for _, e := range ents {
		n, ok := endpointDirName(e)
		if !ok {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(dfd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if st.Uid != uid {
			foreign = append(foreign, fmt.Sprintf("%s (uid %d)", e.Name(), st.Uid))
			continue
		}
		d := path + "/" + e.Name()
		if unix.Fstatat(dfd, e.Name()+"/sock", &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			out = append(out, Endpoint{Name: n, Transport: TransportUnix, Path: d + "/sock"})
		}
		if unix.Fstatat(dfd, e.Name()+"/port", &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			out = append(out, Endpoint{Name: n, Transport: TransportTCP, Path: d + "/port"})
		}
	}
	if len(foreign) > 0 && o != nil {
		o.warn(fmt.Errorf("ipc: list: skipped %d endpoint directories in %s not owned by uid %d: %s", len(foreign), path, uid, strings.Join(foreign[:min(len(foreign), 5)], ", ")))
	}
	return out, nil
}

// endpointDirName returns NAME for a directory entry bu-NAME.d.
func endpointDirName(e fs.DirEntry) (string, bool) {
	n, ok := strings.CutPrefix(e.Name(), "bu-")
	n, ok2 := strings.CutSuffix(n, ".d")
	if !ok || !ok2 || ValidateName(n) != nil || !e.IsDir() {
		return "", false
	}
	return n, true
}
