//go:build unix

package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Test hooks, nil outside tests. They run between the steps of bindUnix so
// a test can try to connect at each instant.
var (
	testHookAfterBind  func(path string)
	testHookAfterChmod func(path string)
)

// listenBacklog is the listen(2) backlog of Unix endpoints.
const listenBacklog = 512

// maxAttempts bounds the retries when Listen races another process's
// shutdown of the same endpoint (see lock).
const maxAttempts = 5

// errRetry marks a lost race with a concurrent shutdown: start over.
var errRetry = errors.New("endpoint changed while it was being opened; retry")

// privDir is an open, verified private directory.
type privDir struct {
	path     string
	fd       int
	dev, ino uint64
	created  bool
}

func describeMode(m uint32) string {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("file of type %#o", m&unix.S_IFMT)
}

// notPrivate builds an ErrNotPrivate error with the facts of st.
func notPrivate(path, why string, st *unix.Stat_t) error {
	facts := ""
	if st != nil {
		facts = fmt.Sprintf(" (%s, owner uid %d, mode %04o)", describeMode(uint32(st.Mode)), st.Uid, st.Mode&07777)
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if t, err := os.Readlink(path); err == nil {
				facts = fmt.Sprintf(" (symlink to %q, owner uid %d, mode %04o)", t, st.Uid, st.Mode&07777)
			}
		}
	}
	return fmt.Errorf("ipc: %s: %w: %s%s", path, ErrNotPrivate, why, facts)
}

// dirUse says how openDir treats one directory of an endpoint's chain.
type dirUse int

const (
	// dirCreate (Listen): create the directory (0700) when missing and
	// tighten a loose mode of ours to 0700 through the handle.
	dirCreate dirUse = iota
	// dirVerify (Dial, List): the directory must exist, be ours and not be
	// writable by group or others; nothing is created or changed.
	dirVerify
)

// openDir opens the directory name inside parent (parent nil: name is
// resolved from the working directory, in practice an absolute path), with
// path its full name for errors, and verifies it on the handle: a directory
// (not a symlink) owned by this uid, with the mode use asks for. A symlink,
// a non-directory, another uid's directory, or for dirVerify one writable by
// group or others is refused with ErrNotPrivate naming the entry, its owner
// and its mode, and left exactly as it was. Listen and Dial verify the same
// chain with it (see openChain).
func openDir(parent *privDir, name, path string, use dirUse) (*privDir, error) {
	uid := uint32(os.Geteuid())
	dfd := unix.AT_FDCWD
	if parent != nil {
		dfd = parent.fd
	}
	created := false
	if use == dirCreate {
		// Race point: mkdir never follows a symlink in the last component
		// (it fails with EEXIST), so a planted symlink cannot make us
		// create a directory at its target. umask can only remove bits
		// from 0700; the exact mode is set below through the handle,
		// never via umask.
		switch err := unix.Mkdirat(dfd, name, 0o700); {
		case err == nil:
			created = true
		case errors.Is(err, unix.EEXIST):
		default:
			return nil, fmt.Errorf("ipc: mkdir %s: %w", path, err)
		}
	}
	var lst unix.Stat_t
	if err := unix.Fstatat(dfd, name, &lst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, fmt.Errorf("ipc: lstat %s: %w", path, err)
	}
	switch {
	case lst.Mode&unix.S_IFMT == unix.S_IFLNK:
		return nil, notPrivate(path, "is a symlink", &lst)
	case lst.Mode&unix.S_IFMT != unix.S_IFDIR:
		// Checked before open: opening a FIFO could block.
		return nil, notPrivate(path, "is not a directory", &lst)
	case lst.Uid != uid:
		return nil, notPrivate(path, fmt.Sprintf("is owned by uid %d, not %d", lst.Uid, uid), &lst)
	}
	// Race point: the entry could be swapped between lstat and open by
	// someone who can write the parent (not possible in a sticky /tmp, nor
	// in a verified parent of ours). O_NOFOLLOW|O_DIRECTORY refuse a
	// symlink or a non-directory; comparing dev/ino with the lstat result
	// refuses a swapped directory. From here on everything inside goes
	// through the handle.
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, notPrivate(path, "cannot be opened as a directory without following links: "+err.Error(), nil)
	}
	d := &privDir{path: path, fd: fd, created: created}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		d.close()
		return nil, fmt.Errorf("ipc: fstat %s: %w", path, err)
	}
	if st.Dev != lst.Dev || st.Ino != lst.Ino || st.Uid != uid || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		d.close()
		return nil, notPrivate(path, "changed while it was being opened", &st)
	}
	d.dev, d.ino = uint64(st.Dev), uint64(st.Ino)
	switch {
	case use == dirVerify && st.Mode&0o022 != 0:
		// A client changes nothing: a loose directory may hold entries
		// another uid planted, so it is refused, not tightened.
		d.close()
		return nil, notPrivate(path, "is writable by group or others", &st)
	case use == dirCreate && st.Mode&07777 != 0o700:
		// Ours but loose (or created under an odd umask, or with an
		// inherited setgid bit): tighten through the handle, not the path.
		// A directory that was loose may hold entries another uid planted;
		// everything used inside is opened no-follow and verified (lock) or
		// removed unread (sock, port) while the lock is held.
		if err := unix.Fchmod(fd, 0o700); err != nil {
			d.close()
			return nil, notPrivate(path, "mode cannot be tightened to 0700: "+err.Error(), &st)
		}
	}
	return d, nil
}

// openChain opens and verifies lay's fallback parents and then its endpoint
// directory, outermost first, each inside the handle of the one before; the
// first inside a handle of the directory holding the chain (the root, or
// the base of the fallback), which must be one where no other uid can
// rename entries (holderSafe). Listen uses dirCreate, Dial and List
// dirVerify. It returns what it opened even on error, so that the caller
// can close it (and Listen undo what it created).
//
// Race point: a parent cannot be swapped for a link once opened: every
// later step is relative to its handle, and it is ours and not writable by
// others, so no other uid can plant or rename anything inside it. The
// holder is the caller's choice (often a shared sticky /tmp) and not ours:
// it is checked on the handle the first step goes through, so that no other
// uid can rename our entry in it away and another directory of ours in its
// place (both would pass every check of ours).
func openChain(lay Layout, use dirUse) (parents []*privDir, dir *privDir, err error) {
	first := lay.Dir
	if len(lay.Parents) > 0 {
		first = lay.Parents[0]
	}
	holder, err := openHolder(filepath.Dir(first))
	if err != nil {
		return nil, nil, err
	}
	defer holder.close()
	prev := holder
	open := func(path string) (*privDir, error) {
		if filepath.Dir(path) == prev.path {
			return openDir(prev, filepath.Base(path), path, use)
		}
		return openDir(nil, path, path, use)
	}
	for _, p := range lay.Parents {
		d, err := open(p)
		if err != nil {
			return parents, nil, err
		}
		parents = append(parents, d)
		prev = d
	}
	dir, err = open(lay.Dir)
	return parents, dir, err
}

// openHolder opens the directory holding an endpoint's chain (links
// followed: it is the caller's choice, such as /tmp, which is a link on
// macOS) and checks it with holderSafe on the handle.
func openHolder(path string) (*privDir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("ipc: open %s: %w", path, err)
	}
	d := &privDir{path: path, fd: fd}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		d.close()
		return nil, fmt.Errorf("ipc: fstat %s: %w", path, err)
	}
	if err := holderSafe(path, &st); err != nil {
		d.close()
		return nil, err
	}
	d.dev, d.ino = uint64(st.Dev), uint64(st.Ino)
	return d, nil
}

// holderSafe refuses, with ErrNotPrivate naming the directory, its owner
// and its mode, a directory holding an endpoint's chain in which another
// uid could rename our entries: one writable by group or others and not
// sticky, or one owned by another uid (other than root), who may rename
// anything in it whatever its mode.
func holderSafe(path string, st *unix.Stat_t) error {
	uid := uint32(os.Geteuid())
	switch {
	case st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0:
		return notPrivate(path, "other uids can rename entries in it (writable by group or others, not sticky), so an endpoint directory there could be swapped for another; use a sticky or private root", st)
	case st.Uid != uid && st.Uid != 0:
		return notPrivate(path, fmt.Sprintf("is owned by uid %d, who can rename entries in it, so an endpoint directory there could be swapped for another; use a root of ours (or root's)", st.Uid), st)
	}
	return nil
}

// closeChain closes the handles openChain returned.
func closeChain(parents []*privDir, dir *privDir) {
	for _, d := range parents {
		d.close()
	}
	if dir != nil {
		dir.close()
	}
}

// squatted explains a refusal (ErrNotPrivate) that another uid's entry
// caused in a directory every uid can create in: the fallback base
// /tmp/bh-<uid> (squattedFallback), or the endpoint directory in a shared
// root such as /tmp (squattedShared). Refusing is right (serving in
// another uid's directory would give it the socket); the message says who
// holds the name, that the endpoint has nowhere else to go, and what gives
// it a per-user base. Any other error is returned as it is.
func squatted(lay Layout, err error) error {
	if err == nil || !errors.Is(err, ErrNotPrivate) {
		return err
	}
	if lay.Fallback {
		return squattedFallback(lay, err)
	}
	return squattedShared(lay, err)
}

// squattedFallback explains a refusal of the fallback base /tmp/bh-<uid>
// because another uid holds it. With a private $XDG_RUNTIME_DIR the
// fallback is never under /tmp (see resolveUID), so the advice is to set
// one.
func squattedFallback(lay Layout, err error) error {
	if len(lay.Parents) == 0 || lay.Parents[0] != fallbackBase(os.Geteuid()) {
		return err
	}
	var st unix.Stat_t
	if unix.Lstat(lay.Parents[0], &st) != nil || st.Uid == uint32(os.Geteuid()) {
		return err // not held by another uid: the refusal says why
	}
	return fmt.Errorf("%w; uid %d holds the fallback base %s: set XDG_RUNTIME_DIR to a private directory of yours "+
		"(the fallback then moves to $XDG_RUNTIME_DIR/%s), set BH_RUNTIME_DIR or use a root short enough for %s to fit sun_path, "+
		"or have %s removed (by uid %d or root)",
		err, st.Uid, lay.Parents[0], altFallbackName, lay.Root+"/bu-"+lay.Name+".d/sock", lay.Parents[0], st.Uid)
}

// squattedShared explains a refusal of the endpoint directory because
// another uid made an entry at its name first in a root every uid can
// create in (writable by others, as /tmp). The facts are read after the
// refusal and only shape the message: the refusal itself rests on the
// checks made through handles (openChain).
func squattedShared(lay Layout, err error) error {
	if lay.Dir == "" {
		return err
	}
	var st, root unix.Stat_t
	if unix.Lstat(lay.Dir, &st) != nil || st.Uid == uint32(os.Geteuid()) {
		return err // not another uid's: the refusal says why
	}
	if unix.Stat(lay.Root, &root) != nil || root.Mode&0o002 == 0 {
		return err // a root others cannot create in: whoever made it there was let in
	}
	return fmt.Errorf("%w; uid %d made %s first, in %s, where every uid can create entries, so this endpoint cannot be made there "+
		"and has nowhere else to go: give it a per-user base no other uid can create in (XDG_RUNTIME_DIR naming a private directory "+
		"of yours, as /run/user/%d is, with no root given; or BH_RUNTIME_DIR or the root naming one), or have %s removed (by uid %d or root)",
		err, st.Uid, lay.Dir, lay.Root, os.Geteuid(), lay.Dir, st.Uid)
}

// sameDir reports whether d.path still names the directory d has open.
func (d *privDir) sameDir() bool {
	var st unix.Stat_t
	return unix.Lstat(d.path, &st) == nil && uint64(st.Dev) == d.dev && uint64(st.Ino) == d.ino
}

func (d *privDir) close() {
	if d.fd >= 0 {
		unix.Close(d.fd) // a close error on a read-only directory handle carries no data loss
		d.fd = -1
	}
}

// removeIfCreated removes the directory if this process created it; it
// must be empty. Used to undo a failed Listen.
func (d *privDir) removeIfCreated() error {
	if !d.created || !d.sameDir() {
		return nil
	}
	if err := unix.Rmdir(d.path); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("ipc: rmdir %s: %w", d.path, err)
	}
	return nil
}

// endpointLock is a held endpoint: its verified directories and its lock.
type endpointLock struct {
	lay     Layout
	parents []*privDir // fallback parents, outermost first
	dir     *privDir
	lockFD  int
	// lockCreated: this process created the lock file.
	lockCreated bool
	// sockDev/sockIno identify the socket this process bound (haveSock).
	haveSock         bool
	sockDev, sockIno uint64
}

// acquireEndpoint opens (creating as needed) the endpoint directory and its
// fallback parents, verifies them and takes the lock. The layout is used as
// resolved: the fallback base never depends on what another uid did (see
// resolveUID), so Listen and Dial always meet. On failure it undoes what it
// created and returns ErrAlreadyRunning, ErrNotPrivate (naming whoever
// holds /tmp/bh-<uid>, see squatted) or the cause.
func acquireEndpoint(lay Layout) (*endpointLock, error) {
	ep, err := acquireLayout(lay)
	return ep, squatted(lay, err)
}

func acquireLayout(lay Layout) (*endpointLock, error) {
	var err error
	for range maxAttempts {
		var ep *endpointLock
		ep, err = tryAcquire(lay)
		if err == nil {
			return ep, nil
		}
		if !errors.Is(err, errRetry) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("ipc: lock %s: %w", lay.Lock, err)
}

func tryAcquire(lay Layout) (*endpointLock, error) {
	ep := &endpointLock{lay: lay, lockFD: -1}
	fail := func(err error) (*endpointLock, error) {
		return nil, errors.Join(err, ep.undo())
	}
	parents, d, err := openChain(lay, dirCreate)
	ep.parents, ep.dir = parents, d
	if err != nil {
		if errors.Is(err, unix.ENOENT) && len(ep.parents) > 0 {
			err = errRetry // a parent was removed by a concurrent failed Listen
		}
		return fail(err)
	}
	if err := ep.lock(); err != nil {
		return fail(err)
	}
	return ep, nil
}

// lock opens the lock file without following links and takes an exclusive
// flock on it.
//
// Race point: Close unlinks the lock file before releasing the flock, so a
// process that opened the old inode may win the flock on a file that is no
// longer linked. After flock we therefore check that "lock" still names the
// inode we locked and the directory is still at its path; if not we lost a
// race with a shutdown and start over (errRetry).
func (ep *endpointLock) lock() error {
	uid := uint32(os.Geteuid())
	dfd := ep.dir.fd
	for range 2 {
		created := true
		fd, err := unix.Openat(dfd, "lock", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
		if errors.Is(err, unix.EEXIST) {
			created = false
			fd, err = unix.Openat(dfd, "lock", unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		}
		if errors.Is(err, unix.ENOENT) {
			return errRetry // the directory was removed under us by a shutdown
		}
		var st unix.Stat_t
		if err == nil {
			err = unix.Fstat(fd, &st)
		}
		if err == nil && st.Nlink == 0 {
			// Unlinked between our open and fstat: a shutdown of the
			// previous daemon (see the race point above). Start over.
			unix.Close(fd)
			return errRetry
		}
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != uid || st.Nlink != 1 || st.Mode&0o077 != 0 {
			// A symlink (ELOOP), a directory (EISDIR), a FIFO, another
			// uid's file, a hard link to some file of ours (st_nlink > 1:
			// a lock file is only ever linked here), or a file of ours
			// with group or other access (a lock we create is 0600: this
			// is some other file of ours, moved here) that another uid may
			// hold a flock on: it can only have been planted while the
			// directory was loose (it is 0700 and ours now). Remove the
			// name without following it and try once more with a fresh
			// file; the file it links to elsewhere is untouched. A file
			// moved here came from a directory the planter can write, so
			// it could have deleted it there as well.
			if fd >= 0 {
				unix.Close(fd)
			}
			// Race point: only processes of our uid can change "lock" now;
			// unlink only while it still names what we examined, so a
			// concurrent Listen's fresh lock file is left alone (a window
			// remains between this check and the unlink, against our own
			// uid only, which is out of scope).
			var now unix.Stat_t
			if err == nil && (unix.Fstatat(dfd, "lock", &now, unix.AT_SYMLINK_NOFOLLOW) != nil || now.Dev != st.Dev || now.Ino != st.Ino) {
				return errRetry
			}
			if rerr := removePlanted(ep.dir, "lock"); rerr != nil {
				return rerr
			}
			continue
		}
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			unix.Close(fd)
			if created {
				// Cannot happen for a file we just made unless a peer raced us
				// to it; leave the peer's lock file to the peer.
				return errRetry
			}
			if errors.Is(err, unix.EWOULDBLOCK) {
				return fmt.Errorf("ipc: listen %s: %w: lock %s is held by another process", ep.lay.Name, ErrAlreadyRunning, ep.lay.Lock)
			}
			return fmt.Errorf("ipc: flock %s: %w", ep.lay.Lock, err)
		}
		var now unix.Stat_t
		if unix.Fstatat(dfd, "lock", &now, unix.AT_SYMLINK_NOFOLLOW) != nil || now.Dev != st.Dev || now.Ino != st.Ino || !ep.dir.sameDir() {
			unix.Close(fd)
			return errRetry
		}
		ep.lockFD, ep.lockCreated = fd, created
		return nil
	}
	return fmt.Errorf("ipc: %s: %w: an unusable lock file keeps reappearing", ep.lay.Lock, ErrNotPrivate)
}

// removeStale unlinks name inside the endpoint directory without following
// it. Only called with the lock held: whatever is there belongs to a daemon
// that no longer runs (or was planted while the directory was loose).
func (ep *endpointLock) removeStale(name string) error {
	return removePlanted(ep.dir, name)
}

// removePlanted unlinks name inside the verified directory dir without
// following it; an empty directory there is removed too. A non-empty
// directory can only have been planted (we never make one there) while the
// directory was loose: its contents are not ours to remove, so it is
// ErrNotPrivate naming it, its owner and what to do.
func removePlanted(dir *privDir, name string) error {
	path := dir.path + "/" + name
	err := unix.Unlinkat(dir.fd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM) {
		rerr := unix.Unlinkat(dir.fd, name, unix.AT_REMOVEDIR)
		if rerr == nil || errors.Is(rerr, unix.ENOENT) {
			return nil
		}
		var st unix.Stat_t
		if serr := unix.Fstatat(dir.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); serr == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			// Its contents may be undeletable for us; a rename within our
			// own directory needs no permission on it.
			return notPrivate(path, fmt.Sprintf("a directory that is not empty (%v) was planted here by uid %d; "+
				"its contents are not ours to remove: rename it aside (mv %s %s.planted) and start again, and have its owner or root remove it",
				rerr, st.Uid, path, path), &st)
		}
	}
	return fmt.Errorf("ipc: remove stale %s: %w", path, err)
}

// inDirPath is a path that reaches name inside the verified directory. On
// Linux it goes through /proc/self/fd/<dirfd>, so no one can redirect it
// between our checks and the syscall and its length stays far below
// sun_path; elsewhere (or without /proc) it is the plain path.
func (ep *endpointLock) inDirPath(name string) string {
	if p := procDirPath(ep.dir.fd, ep.dir.dev, ep.dir.ino); p != "" {
		return p + "/" + name
	}
	return ep.dir.path + "/" + name
}

// bindUnix creates the socket: unlink stale → socket → bind → chmod 0600 →
// verify → listen, with the lock held, without touching the umask.
func (ep *endpointLock) bindUnix() (net.Listener, error) {
	if err := ep.removeStale("sock"); err != nil {
		return nil, err
	}
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("ipc: socket: %w", err)
	}
	closeFD := func() { unix.Close(fd) } // the socket is not listening yet: nothing to flush
	bindPath := ep.inDirPath("sock")
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: bindPath}); err != nil {
		closeFD()
		return nil, fmt.Errorf("ipc: bind %s: %w", ep.lay.Sock, err)
	}
	ep.haveSock = true // from here removeOwned unlinks it (once verified as ours)
	if testHookAfterBind != nil {
		testHookAfterBind(ep.lay.Sock)
	}
	// Race point: the file now exists with mode 0777&^umask (0777 under
	// umask 0), but nobody can connect: connect() to a socket that is not
	// listening is refused, and the 0700 directory keeps other uids from
	// even reaching it. Then chmod by path: fchmod on a socket fd does not
	// change the file's mode.
	if err := unix.Fchmodat(ep.dir.fd, "sock", 0o600, 0); err != nil {
		closeFD()
		return nil, fmt.Errorf("ipc: chmod %s: %w", ep.lay.Sock, err)
	}
	if testHookAfterChmod != nil {
		testHookAfterChmod(ep.lay.Sock)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(ep.dir.fd, "sock", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		closeFD()
		return nil, fmt.Errorf("ipc: lstat %s: %w", ep.lay.Sock, err)
	}
	ep.sockDev, ep.sockIno = uint64(st.Dev), uint64(st.Ino)
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Uid != uint32(os.Geteuid()) || st.Mode&07777 != 0o600 {
		closeFD()
		return nil, notPrivate(ep.lay.Sock, "bound socket is not a 0600 socket of ours", &st)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		closeFD()
		return nil, fmt.Errorf("ipc: listen %s: %w", ep.lay.Sock, err)
	}
	f := os.NewFile(uintptr(fd), ep.lay.Sock)
	ln, err := net.FileListener(f)
	f.Close() // FileListener holds its own dup
	if err != nil {
		return nil, fmt.Errorf("ipc: listen %s: %w", ep.lay.Sock, err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("ipc: listen %s: unexpected listener %T", ep.lay.Sock, ln)
	}
	// Go's UnixListener.Close unlinks by name, which could delete a
	// successor's socket; release() unlinks only the inode we bound.
	ul.SetUnlinkOnClose(false)
	return &unixListener{UnixListener: ul, addr: &net.UnixAddr{Name: ep.lay.Sock, Net: "unix"}}, nil
}

// unixListener reports the real socket path as its address (the bind path
// may have gone through /proc/self/fd).
type unixListener struct {
	*net.UnixListener
	addr net.Addr
}

func (l *unixListener) Addr() net.Addr { return l.addr }

// writePortFile writes data to the port file atomically: a fresh file
// created exclusively (O_EXCL, no-follow) with mode 0600 inside the 0700
// directory, then renamed over "port". Readers see the old file or the new
// one; there is no fsync: after a crash the daemon is gone and the file is
// stale whatever its content, so durability buys nothing here.
func (ep *endpointLock) writePortFile(data []byte) error {
	if err := ep.removeStale("port"); err != nil {
		return err
	}
	return ep.replaceFile("port", data)
}

func (ep *endpointLock) replaceFile(name string, data []byte) error {
	tmp := "." + name + ".tmp." + strconv.Itoa(os.Getpid())
	fd, err := unix.Openat(ep.dir.fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EEXIST) {
		// Left by a crashed writer with our pid (pid reuse): with the lock
		// held it is stale.
		if err = ep.removeStale(tmp); err == nil {
			fd, err = unix.Openat(ep.dir.fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		}
	}
	if err != nil {
		return fmt.Errorf("ipc: create %s/%s: %w", ep.dir.path, tmp, err)
	}
	f := os.NewFile(uintptr(fd), ep.dir.path+"/"+tmp)
	// fchmod on a regular file does set its mode: exactly 0600 whatever
	// the umask took away.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(ep.dir.fd, tmp, ep.dir.fd, name)
	}
	if err != nil {
		if uerr := unix.Unlinkat(ep.dir.fd, tmp, 0); uerr != nil && !errors.Is(uerr, unix.ENOENT) {
			err = errors.Join(err, uerr)
		}
		return fmt.Errorf("ipc: write %s/%s: %w", ep.dir.path, name, err)
	}
	return nil
}

// release is Close's clean-up: it removes the socket (only while "sock" is
// still the inode this process bound), the port file (only while portIsOurs
// accepts its content; nil: none was written), the lock file and the
// endpoint directory (if empty) whoever created them, the fallback parents
// this process created (if empty), and releases the lock.
func (ep *endpointLock) release(portIsOurs func([]byte) bool) error {
	err := ep.removeOwned(portIsOurs)
	if ep.dir != nil && ep.lockFD >= 0 {
		// The lock file and the directory go whoever created them: they
		// are ours (verified), and a daemon leaves nothing behind. The lock
		// file is unlinked before the flock is released; see lock() for how
		// a waiter that opened the old inode notices.
		ep.lockCreated, ep.dir.created = true, true
	}
	return errors.Join(err, ep.undo())
}

// abort undoes a Listen that failed after the lock was taken: the socket it
// bound, and what it created; a directory or lock file that was there
// before stays.
func (ep *endpointLock) abort() error {
	return errors.Join(ep.removeOwned(nil), ep.undo())
}

func (ep *endpointLock) removeOwned(portIsOurs func([]byte) bool) error {
	if ep.dir == nil || ep.lockFD < 0 {
		return nil
	}
	var errs []error
	dfd := ep.dir.fd
	if ep.haveSock {
		// Race point: the path may now hold another socket (a successor's,
		// or one an operator put there); unlink only the inode we bound.
		var st unix.Stat_t
		if unix.Fstatat(dfd, "sock", &st, unix.AT_SYMLINK_NOFOLLOW) == nil && uint64(st.Dev) == ep.sockDev && uint64(st.Ino) == ep.sockIno {
			if err := unix.Unlinkat(dfd, "sock", 0); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("ipc: remove %s: %w", ep.lay.Sock, err))
			}
		}
		ep.haveSock = false
	}
	if portIsOurs != nil {
		if b, err := readAt(dfd, "port"); err == nil && portIsOurs(b) {
			if err := unix.Unlinkat(dfd, "port", 0); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("ipc: remove %s: %w", ep.lay.Port, err))
			}
		}
	}
	return errors.Join(errs...)
}

// undo closes the handles and removes the directories this process created,
// innermost first. A directory that is not empty stays: whatever is in it is
// not ours to remove (ENOTEMPTY and EEXIST are expected, not errors).
func (ep *endpointLock) undo() error {
	var errs []error
	if ep.lockFD >= 0 {
		if ep.lockCreated {
			if err := unix.Unlinkat(ep.dir.fd, "lock", 0); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("ipc: remove %s: %w", ep.lay.Lock, err))
			}
		}
		if err := unix.Close(ep.lockFD); err != nil { // releases the flock
			errs = append(errs, fmt.Errorf("ipc: close %s: %w", ep.lay.Lock, err))
		}
		ep.lockFD = -1
	}
	dirs := append([]*privDir(nil), ep.parents...)
	if ep.dir != nil {
		dirs = append(dirs, ep.dir)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		d.close()
		if err := d.removeIfCreated(); err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, err)
		}
	}
	ep.parents, ep.dir = nil, nil
	return errors.Join(errs...)
}

// readAt reads a small regular file inside dfd without following links.
func readAt(dfd int, name string) ([]byte, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// readPortFile reads a port file at a path outside the layout
// (DialPortFile: the caller's choice) after checking it is a regular file
// owned by this uid with no group or other access; the last component is
// not followed.
func readPortFile(path string) ([]byte, error) {
	return readPortFileAt(unix.AT_FDCWD, path, path)
}

// readEndpointPort reads lay's port file through the chain Dial verifies
// (openChain with dirVerify: the fallback parents, if any, and the endpoint
// directory, each ours and private, not links, in a holder where no other
// uid can rename entries), then "port" inside the verified directory
// without following it. DialPortFile's layout has no Dir: its path is read
// as given.
func readEndpointPort(lay Layout) ([]byte, error) {
	if lay.Dir == "" {
		return readPortFile(lay.Port)
	}
	parents, dir, err := openChain(lay, dirVerify)
	defer closeChain(parents, dir)
	if err != nil {
		if errors.Is(err, ErrNotPrivate) {
			return nil, squatted(lay, err)
		}
		return nil, fmt.Errorf("ipc: dial %s: %w", lay.Port, err)
	}
	return readPortFileAt(dir.fd, "port", lay.Port)
}

// readPortFileAt reads name inside dfd (path is its full name for errors)
// without following it, after checking on the handle that it is a regular
// file owned by this uid with no group or other access.
func readPortFileAt(dfd int, name, path string) ([]byte, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			var st unix.Stat_t
			unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
			return nil, notPrivate(path, "port file is a symlink", &st)
		}
		return nil, &fs.PathError{Op: "ipc: open port file", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("ipc: fstat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != uint32(os.Geteuid()) || st.Mode&0o077 != 0 {
		return nil, notPrivate(path, "port file is not a private regular file of ours", &st)
	}
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("ipc: read %s: %w", path, err)
	}
	return b[:n], nil
}

func listenUnix(ctx context.Context, lay Layout, o *options) (*Listener, error) {
	ep, err := acquireEndpoint(lay)
	if err != nil {
		return nil, err
	}
	ln, err := ep.bindUnix()
	if err != nil {
		return nil, errors.Join(err, ep.abort())
	}
	check := func(c net.Conn) (net.Conn, error) {
		// Peer credentials come from the kernel at connect time; checking
		// them needs no read, so a rejected peer is closed before a byte
		// of its input is read.
		uid, pid, err := peerCred(c)
		if err != nil {
			return nil, fmt.Errorf("ipc: accept on %s: %w: peer credentials: %v", lay.Sock, ErrPeerRejected, err)
		}
		if !o.peerAllowed(uid) {
			return nil, fmt.Errorf("ipc: accept on %s: %w: peer uid %d (pid %d), allowed %v", lay.Sock, ErrPeerRejected, uid, pid, o.peerUIDs)
		}
		return c, nil
	}
	return newListener(lay, ln, o, check, func() error { return ep.release(nil) }, nil), nil
}

// isOwnPrivateDir: a directory (not a symlink) owned by this uid with no
// group or other access.
func isOwnPrivateDir(path string) bool { return isPrivateDirOf(path, os.Geteuid()) }

// isPrivateDirOf: a directory (not a symlink) owned by uid with no group or
// other access.
func isPrivateDirOf(path string, uid int) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR &&
		st.Uid == uint32(uid) && st.Mode&0o077 == 0
}
