//go:build unix

package report

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// writeReportFiles opens dir (openReportDir) and writes each file into it
// relative to that handle: created exclusively under a temporary name
// (O_EXCL|O_NOFOLLOW), its mode set on the handle, then renamed over the
// final name with renameat, which replaces a link planted there rather
// than following it. An interrupted run never leaves half a report.
func writeReportFiles(dir string, names []string, files map[string][]byte) ([]string, error) {
	dfd, err := openReportDir(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	var written []string
	for _, name := range names {
		p := filepath.Join(dir, name)
		if err := writeAt(dfd, name, files[name]); err != nil {
			return written, fmt.Errorf("%s: %w", p, err)
		}
		written = append(written, p)
	}
	return written, nil
}

func writeAt(dfd int, name string, b []byte) error {
	var r [6]byte
	rand.Read(r[:])
	tmp := fmt.Sprintf(".%s.tmp%x", name, r)
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(b)
	err = errors.Join(err, f.Chmod(0o644), f.Close())
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0) // best effort: our own temporary file
	}
	return err
}

// maxReportLinks bounds the links followed in a report path.
const maxReportLinks = 40

// openReportDir opens dir, creating what is missing (0755), and returns
// its fd. The path is walked from / one component at a time with
// openat(O_DIRECTORY|O_NOFOLLOW), and each directory opened is checked on
// its fd:
//
//   - it belongs to this process's uid or to root (or, run by root
//     through sudo, to $SUDO_UID: that user can act as root anyway, so
//     trusting its directories gives it nothing; the GitHub Action runs
//     the suite so, with the reports in the runner's workspace): a
//     directory another uid owns is that uid's to swap under us;
//   - no group or other write, unless sticky (/tmp): in a sticky
//     directory others can create entries but not rename or remove ours,
//     so the next component must then belong to this uid (made now, or
//     before), and the files are written into it exclusively and renamed
//     into place (writeAt);
//   - a symlink on the way is followed only when it belongs to this uid
//     or root (it then sits in a directory that passed these checks), by
//     walking its target the same way.
//
// Race point: each check is made on the directory actually opened, and
// everything after it is relative to that fd, so a component swapped for
// a link or another uid's directory after the check is never used.
func openReportDir(dir string) (int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return -1, err
	}
	uid := trustedUIDs()
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	cur, shared := "/", false
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if shared, err = checkReportDir(&st, "/", uid, false); err != nil {
		unix.Close(fd)
		return -1, err
	}
	parts := strings.Split(abs, "/")
	links := 0
	for len(parts) > 0 {
		name := parts[0]
		parts = parts[1:]
		if name == "" || name == "." {
			continue
		}
		p := filepath.Join(cur, name)
		nfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, name, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				nfd, err = unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		if err != nil && unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			links++
			target, err := reportLinkTarget(fd, &st, dir, cur, name, uid, links)
			unix.Close(fd)
			if err != nil {
				return -1, err
			}
			if fd, err = unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				return -1, err
			}
			cur, shared = "/", false
			parts = append(strings.Split(filepath.Clean(target), "/"), parts...)
			continue
		}
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("report directory %s: %s: %w", dir, p, err)
		}
		unix.Close(fd)
		fd = nfd
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if shared, err = checkReportDir(&st, p, uid, shared); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("report directory %s: %w", dir, err)
		}
		cur = p
	}
	return fd, nil
}

// reportLinkTarget is the path openReportDir walks (from /) in place of
// the symlink name in the directory fd, cur, whose lstat is st; links is
// how many links the walk has met, this one included.
func reportLinkTarget(fd int, st *unix.Stat_t, dir, cur, name string, uid trusted, links int) (string, error) {
	p := filepath.Join(cur, name)
	// A link: followed only when it is ours or root's.
	if !uid.has(int(st.Uid)) {
		return "", fmt.Errorf("report directory %s: %s is a symlink of uid %d: refusing to follow it", dir, p, st.Uid)
	}
	if links > maxReportLinks {
		return "", fmt.Errorf("report directory %s: more than %d links", dir, maxReportLinks)
	}
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(fd, name, buf)
	if err != nil {
		return "", fmt.Errorf("report directory %s: readlink %s: %w", dir, p, err)
	}
	// The target is walked again from /: cur holds no link (each of its
	// components was opened with O_NOFOLLOW), so a relative target's ".."
	// is resolved right by cleaning cur/target.
	target := string(buf[:n])
	if !filepath.IsAbs(target) {
		target = filepath.Join(cur, target)
	}
	return target, nil
}

// checkReportDir checks a directory of the report path (openReportDir);
// inShared: its parent is a sticky directory others can write. It returns
// whether this one is such a directory.
func checkReportDir(st *unix.Stat_t, p string, uid trusted, inShared bool) (bool, error) {
	owner := int(st.Uid)
	switch {
	case !uid.has(owner):
		return false, fmt.Errorf("%s belongs to uid %d, not to %s: refusing to write through it", p, owner, uid)
	case inShared && owner != uid.self && owner != uid.sudo:
		return false, fmt.Errorf("%s, in a directory others can write, belongs to uid %d, not to %s: refusing to write through it", p, owner, uid)
	}
	if st.Mode&0o022 == 0 {
		return false, nil
	}
	if st.Mode&unix.S_ISVTX == 0 {
		return false, fmt.Errorf("%s is mode %#o: group or others can write it and it is not sticky, so its entries can be swapped: refusing to write through it", p, st.Mode&0o7777)
	}
	return true, nil
}

// trusted are the uids whose directories a report is written through:
// this process's, root, and $SUDO_UID when root runs through sudo (-1 if
// none).
type trusted struct{ self, sudo int }

func trustedUIDs() trusted {
	t := trusted{self: os.Geteuid(), sudo: -1}
	if t.self == 0 {
		if n, err := strconv.Atoi(os.Getenv("SUDO_UID")); err == nil && n > 0 {
			t.sudo = n
		}
	}
	return t
}

func (t trusted) has(uid int) bool { return uid == t.self || uid == 0 || uid == t.sudo }

func (t trusted) String() string {
	s := "root"
	if t.self != 0 {
		s = fmt.Sprintf("uid %d or root", t.self)
	}
	if t.sudo >= 0 {
		s += fmt.Sprintf(" or uid %d ($SUDO_UID)", t.sudo)
	}
	return s
}
