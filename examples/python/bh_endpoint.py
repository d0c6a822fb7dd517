#!/usr/bin/env python3
"""bh_endpoint: a private local endpoint for a Python daemon (standard library only).

Copy this one file into a project. It serves newline-delimited JSON ("bh-json")
on a Unix socket in a private directory, or on TCP loopback with a secret, and
passes every required scenario of bh-ipc-check (docs/scenarios/ in that
repository explains each attack and fix):

    python3 bh_endpoint.py serve [--root DIR] --name NAME [--transport unix|tcp|abstract] [--protocol bh-json|ipc]

Layout, under a runtime directory ROOT (--root, else default_root(): a
private $XDG_RUNTIME_DIR, else $TMPDIR or /tmp):

    ROOT/bu-NAME.d/        0700, ours, never a symlink
    ROOT/bu-NAME.d/lock    flock held for the daemon's whole life
    ROOT/bu-NAME.d/sock    the Unix socket, 0600 (unix transport)
    ROOT/bu-NAME.d/port    {"port":N,"pid":N,"token":"<hex>"}, 0600 (tcp transport)
    @ROOT/bu-NAME.sock     a Linux abstract name, no file at all (abstract transport)

Guarantees, against another local uid (root and our own uid are out of scope):

- With no --root, the endpoint lives in a per-user base where one exists
  ($XDG_RUNTIME_DIR when it is a 0700 directory of ours, as /run/user/<uid>
  is), in which no other uid can create bu-NAME.d first: squatting the name
  cannot keep the daemon from starting. Clients use the same order
  (default_root, as bh-ipc-check's ipc package does). In a shared root
  (/tmp) a squatted bu-NAME.d is refused, and the daemon cannot start there.
- The endpoint directory is created 0700 or, if it exists, opened with
  O_NOFOLLOW|O_DIRECTORY and checked with fstat: a symlink, a non-directory or
  another uid's directory is refused and left as it was; our own loose
  directory is tightened with fchmod on the handle. Everything inside is
  reached through that handle (dir_fd=), never by re-resolving the path.
- Only the holder of the lock touches the socket or the port file, so a second
  start on a live name refuses ("already running") and changes nothing, and
  what sits at "sock" when the lock is ours is stale: unlinked without
  following it (unlink never follows the last component).
- The socket is bound, chmod'ed 0600, verified (lstat: a socket, ours, 0600)
  and only then listens: a connect before listen() is refused, and the 0700
  directory keeps other uids from reaching the socket at all, whatever the
  umask. The process umask is never changed.
- Every accepted Unix connection's peer uid (kernel credentials) must be ours;
  others are closed before a byte is read.
- SIGTERM/SIGINT: stop, remove exactly what we created (the socket only while
  it is still the inode we bound), release the lock, remove the directory,
  exit 0.
- Lines are at most 1 MiB; a connection idle for 30 s (or not reading its
  replies) is closed; 500 idle connections do not stop a new client.
- TCP: 127.0.0.1 only; 32 random bytes of token in a port file created with
  O_EXCL|O_NOFOLLOW, mode 0600, inside the 0700 directory, then renamed into
  place. --protocol bh-json (the default, browser-harness's): every request
  carries "token", compared with hmac.compare_digest. --protocol ipc: the
  mutual HMAC-SHA256 handshake of bh-ipc-check's ipc package, server first,
  so the secret never crosses the wire and a squatter on a stale port learns
  nothing (a bh-json client sends the token to whoever holds the port).
- A web page in the user's browser can POST to the port (and, with its name
  rebound to 127.0.0.1, read the reply), with a request of ours as the
  body. It cannot read the port file: under bh-json its request has no
  token, so it gets errors and a close; under ipc its first line is no
  hello, and the connection is closed without a reply.

What Python forces, and how it is contained:

- socket.bind() takes a path, not a directory handle. On Linux the daemon binds
  through /proc/self/fd/<dirfd>/sock, which names the verified directory by its
  handle (no gap between the check and the bind) and is short whatever the
  real path's length. Elsewhere (macOS, or Linux without /proc) it binds the
  full path; the directory was verified as ours and 0700 and sits in a sticky
  root, so no other uid can plant or swap anything on it, and the bound
  directory is checked afterwards to still be the one the handle holds.
- socket.bind() has no mode argument and os.umask() is process-wide, so the
  socket appears with mode 0777 & ~umask for an instant: contained by the 0700
  directory and by not listening until chmod 0600 has been verified.
- os.chmod(..., follow_symlinks=False) is unavailable on Linux: the chmod is
  fchmodat(dirfd, "sock") inside the verified 0700 directory, where only our
  uid can have put anything; the lstat that follows refuses anything but a
  0600 socket of ours.
- Python has no getpeereid(). Linux: getsockopt(SOL_SOCKET, SO_PEERCRED)
  unpacked as struct ucred. macOS: getsockopt(SOL_LOCAL=0, LOCAL_PEERCRED=1)
  unpacked as struct xucred (what libc's getpeereid reads). Any other
  platform: the daemon refuses to serve a Unix socket rather than skip the
  check.
- sun_path holds 107 bytes on Linux, 103 on macOS; Python raises only a
  generic error. The length is checked first and the error names the path,
  its length and the limit. (On Linux the /proc bind path is always short;
  clients of a long path connect through the directory the same way.)
- Not covered: Windows (no Unix-socket permissions; use the tcp transport
  with a port file protected by a DACL, which needs pywin32 or ctypes).

The abstract transport (Linux; prefer unix, which a directory makes private):

- An abstract name has no file, owner, mode or directory: every process of
  the network namespace can connect, whatever its uid or mount namespace (a
  container run with --net=host among them: containerd-shim, CVE-2020-15257),
  and any of them could have bound the name first, so clients must check the
  server's uid (SO_PEERCRED on their end) too. The peer check is all there
  is: the peer's uid must be ours and its mount namespace ours
  (same_mount_ns). No directory, lock or stale socket: bind() of an
  abstract name is exclusive (a second start gets EADDRINUSE:
  AlreadyRunning) and the name goes with the listener's last descriptor.
"""

import argparse
import errno
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import select
import selectors
import signal
import socket
import stat
import struct
import sys
import time

MAX_LINE = 1 << 20  # longest request line, newline excluded
IDLE_TIMEOUT = 30.0  # seconds a connection may stay idle or not read its replies
MAX_PENDING = 4 << 20  # unread reply bytes before a client is dropped
BACKLOG = 512
HANDSHAKE_TIMEOUT = 5.0  # seconds an ipc-protocol client has to authenticate
HANDSHAKE = "bh-ipc/1"
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class EndpointError(Exception):
    """Base of the errors below; the message names the path and the facts."""


class InvalidName(EndpointError):
    pass


class NotPrivate(EndpointError):
    pass


class AlreadyRunning(EndpointError):
    pass


class PathTooLong(EndpointError):
    pass


class _Retry(Exception):
    """Lost a race with a concurrent shutdown of the same endpoint."""


def default_root():
    """The runtime directory when none is given, in the ipc package's order
    (its clients look in the same one): $BH_RUNTIME_DIR; else $XDG_RUNTIME_DIR
    when it is an absolute path naming a directory of ours with no group or
    other access (a per-user base: no other uid can create bu-NAME.d there
    first); else $TMPDIR, else /tmp (the shared fallback, where another uid can
    squat bu-NAME.d: it is refused, and the daemon has nowhere else to go)."""
    d = os.environ.get("BH_RUNTIME_DIR")
    if d:
        return d
    d = os.environ.get("XDG_RUNTIME_DIR")
    if d and os.path.isabs(d):
        try:
            st = os.lstat(d)  # not followed: a symlink is no private directory
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077 == 0:
            return d
    return os.environ.get("TMPDIR") or "/tmp"


def sun_path_limit():
    """Usable bytes of sockaddr_un.sun_path: 107 on Linux, 103 on macOS/BSD."""
    return 107 if sys.platform.startswith("linux") else 103


def validate_name(name):
    if not _NAME_RE.match(name):
        raise InvalidName("invalid endpoint name %r: want [A-Za-z0-9_-]{1,64}" % name)


def _facts(st):
    kind = {stat.S_IFDIR: "directory", stat.S_IFREG: "regular file", stat.S_IFLNK: "symlink",
            stat.S_IFSOCK: "socket", stat.S_IFIFO: "FIFO"}.get(stat.S_IFMT(st.st_mode), "special file")
    return "%s, owner uid %d, mode %04o" % (kind, st.st_uid, stat.S_IMODE(st.st_mode))


def peer_cred(conn):
    """(pid, uid) of the process that connected a Unix socket, from the kernel (Linux)."""
    # struct ucred {pid_t pid; uid_t uid; gid_t gid;}
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII"))
    pid, uid, _ = struct.unpack("iII", raw)
    return pid, uid


def peer_uid(conn):
    """The uid of the process at the other end of a Unix socket, from the kernel."""
    if hasattr(socket, "SO_PEERCRED"):
        return peer_cred(conn)[1]
    if sys.platform == "darwin":
        # struct xucred {u_int cr_version; uid_t cr_uid; short cr_ngroups;
        # gid_t cr_groups[16];}: SOL_LOCAL 0, LOCAL_PEERCRED 1, 76 bytes.
        raw = conn.getsockopt(0, 1, 76)
        version, uid = struct.unpack_from("=II", raw)
        if version != 0:
            raise OSError("LOCAL_PEERCRED: xucred version %d" % version)
        return uid
    raise OSError("no peer credentials on %s" % sys.platform)


SO_PEERPIDFD = getattr(socket, "SO_PEERPIDFD", 77)  # Linux 6.5; 77 in asm-generic


def _mount_ids(pid):
    """The mount IDs (each line's first field) in /proc/<pid>/mountinfo."""
    with open("/proc/%s/mountinfo" % pid, "rb") as f:
        return {line.split(b" ", 1)[0] for line in f}


def _peer_pidfd(conn):
    """A pidfd for conn's peer process (SO_PEERPIDFD); -1 before Linux 6.5.

    Raises OSError when the kernel has the option but no process for it.
    """
    try:
        fd = conn.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError as e:
        if e.errno in (errno.ENOPROTOOPT, errno.EINVAL):
            return -1  # an older kernel: the pid alone
        raise  # ESRCH: the peer process is gone
    try:
        link = os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        link = ""
    if link != "anon_inode:[pidfd]" and not link.startswith("pidfd:"):
        return -1  # not a pidfd (another architecture's option number): not ours to close
    return fd


def same_mount_ns(conn):
    """Whether the process that connected conn shares our mount namespace.

    Its /proc/<pid>/mountinfo must list a mount ID ours lists: mount IDs are
    unique across namespaces (a new namespace's copies get new ones), and
    mountinfo is world-readable, unlike /proc/<pid>/ns/mnt, which a peer
    that is not dumpable (a setuid program, a hardened client) closes even
    to its own uid. Race point: the pid could be reused by another process
    between the connect and the read; with SO_PEERPIDFD (Linux 6.5) the
    peer must still be alive after the read, so the pid still named it.
    Before 6.5 that instant is not covered. Anything unreadable (the peer
    gone, /proc mounted hidepid): False, refused.
    """
    pid, _ = peer_cred(conn)
    try:
        pidfd = _peer_pidfd(conn)
    except OSError:
        return False
    try:
        try:
            theirs = _mount_ids(pid)
        except OSError:
            return False
        if pidfd >= 0 and select.select([pidfd], [], [], 0)[0]:
            return False  # exited (a pidfd polls readable): the pid may be another's now
        return not theirs.isdisjoint(_mount_ids("self"))
    finally:
        if pidfd >= 0:
            os.close(pidfd)


class Endpoint:
    """A held endpoint: the verified directory handle, the lock, the listener.

    open() creates it; close() removes exactly what it created. Not safe for
    concurrent use; one per process and name.
    """

    def __init__(self, root, name, transport="unix"):
        validate_name(name)  # before touching the filesystem
        if transport not in ("unix", "tcp", "abstract"):
            raise EndpointError("transport %r: want unix, tcp or abstract" % transport)
        self.root = os.path.abspath(root or default_root())
        self.name = name
        self.transport = transport
        self.dir = os.path.join(self.root, "bu-%s.d" % name)
        self.sock_path = os.path.join(self.dir, "sock")
        self.port_path = os.path.join(self.dir, "port")
        self.abstract_name = "@" + os.path.join(self.root, "bu-%s.sock" % name)  # '@': the leading NUL
        self.token = None
        self.listener = None
        self._rootfd = self._dfd = self._lockfd = -1
        self._dir_id = self._sock_id = self._port_id = None
        self._dir_created = False

    # -- directory and lock -------------------------------------------------

    def _open_private_dir(self):
        base = "bu-%s.d" % self.name
        try:
            # Race point: mkdir never follows a symlink in the last component
            # (EEXIST), so a planted link cannot make us create its target. The
            # umask can only remove bits from 0700.
            os.mkdir(base, 0o700, dir_fd=self._rootfd)
            self._dir_created = True
        except FileExistsError:
            pass
        st = os.stat(base, dir_fd=self._rootfd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(base, dir_fd=self._rootfd)
            raise NotPrivate("%s: is a symlink to %r (owner uid %d); refusing it" % (self.dir, target, st.st_uid))
        if not stat.S_ISDIR(st.st_mode):  # before open(): a FIFO could block
            raise NotPrivate("%s: is not a directory (%s); refusing it" % (self.dir, _facts(st)))
        if st.st_uid != os.geteuid():
            raise NotPrivate("%s: is owned by uid %d, not %d (%s); refusing it" % (self.dir, st.st_uid, os.geteuid(), _facts(st)))
        # Race point: the entry could be swapped between lstat and open by
        # someone who can write the root (not in a sticky one). O_NOFOLLOW |
        # O_DIRECTORY refuse a link or a non-directory, and dev/ino must match.
        try:
            self._dfd = os.open(base, _O_DIR, dir_fd=self._rootfd)
        except OSError as e:
            raise NotPrivate("%s: cannot be opened as a directory without following links: %s" % (self.dir, e))
        fst = os.fstat(self._dfd)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or fst.st_uid != os.geteuid():
            raise NotPrivate("%s: changed while it was being opened (%s)" % (self.dir, _facts(fst)))
        self._dir_id = (fst.st_dev, fst.st_ino)
        if stat.S_IMODE(fst.st_mode) != 0o700:
            # Ours but loose: tighten through the handle, not the path. Entries
            # planted while it was loose are opened no-follow and verified
            # (lock) or removed unread (sock, port) under the lock.
            os.fchmod(self._dfd, 0o700)

    def _same_dir(self):
        try:
            st = os.stat("bu-%s.d" % self.name, dir_fd=self._rootfd, follow_symlinks=False)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._dir_id

    def _lock(self):
        lock = os.path.join(self.dir, "lock")
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        for _ in range(2):
            fd = -1
            try:
                try:
                    fd = os.open("lock", flags | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=self._dfd)
                except FileExistsError:
                    fd = os.open("lock", flags, dir_fd=self._dfd)
                st = os.fstat(fd)
                usable = stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
            except FileNotFoundError:
                raise _Retry()  # the directory was removed by a shutdown
            except OSError:  # ELOOP: a symlink planted while the dir was loose
                usable = False
            if not usable:
                if fd >= 0:
                    os.close(fd)
                os.unlink("lock", dir_fd=self._dfd)  # never follows; ours to remove
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise AlreadyRunning("%s: already running: lock %s is held by another process; nothing was touched" % (self.name, lock))
            # Race point: close() unlinks the lock before releasing it, so we
            # may hold the flock of an unlinked inode. Check "lock" still names
            # it and the directory is still at its path; else start over.
            try:
                now = os.stat("lock", dir_fd=self._dfd, follow_symlinks=False)
            except FileNotFoundError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not self._same_dir():
                os.close(fd)
                raise _Retry()
            self._lockfd = fd
            return
        raise NotPrivate("%s: an unusable lock file keeps reappearing" % lock)

    def _remove_stale(self, name):
        """Unlink name in the endpoint dir without following it (lock held)."""
        try:
            os.unlink(name, dir_fd=self._dfd)
        except FileNotFoundError:
            pass
        except (IsADirectoryError, PermissionError):
            os.rmdir(name, dir_fd=self._dfd)  # only an empty directory goes

    # -- transports ---------------------------------------------------------

    def _in_dir_path(self, name):
        """A path to name inside the verified directory, through its handle on Linux."""
        proc = "/proc/self/fd/%d" % self._dfd
        try:
            st = os.stat(proc)
            if (st.st_dev, st.st_ino) == self._dir_id:
                return proc + "/" + name
        except OSError:
            pass
        return os.path.join(self.dir, name)

    def _bind_unix(self):
        if not (hasattr(socket, "SO_PEERCRED") or sys.platform == "darwin"):
            raise EndpointError("%s: no peer credentials on %s: refusing to serve a Unix socket without the peer check; use --transport tcp" % (self.sock_path, sys.platform))
        self._remove_stale("sock")
        path = self._in_dir_path("sock")
        if len(os.fsencode(path)) > sun_path_limit():
            raise PathTooLong("socket path %s: %d bytes, limit %d (sun_path); choose a shorter root" % (path, len(os.fsencode(path)), sun_path_limit()))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # close-on-exec
        try:
            s.bind(path)
            # Race point: the socket exists with mode 0777 & ~umask, but no one
            # can connect (not listening) and the 0700 directory keeps other
            # uids out. chmod by name: fchmod on a socket fd does not change
            # the file's mode.
            os.chmod("sock", 0o600, dir_fd=self._dfd)
            st = os.stat("sock", dir_fd=self._dfd, follow_symlinks=False)
            self._sock_id = (st.st_dev, st.st_ino)
            if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o600:
                raise NotPrivate("%s: bound socket is not a 0600 socket of ours (%s)" % (self.sock_path, _facts(st)))
            if not self._same_dir():
                raise NotPrivate("%s: directory moved while binding" % self.dir)
            s.listen(BACKLOG)
        except BaseException:
            s.close()
            raise
        return s

    def _bind_abstract(self):
        if not sys.platform.startswith("linux"):
            raise EndpointError("%s: abstract socket names are Linux-only; use --transport unix" % self.abstract_name)
        addr = "\0" + self.abstract_name[1:]
        if len(os.fsencode(addr)) > sun_path_limit():
            raise PathTooLong("abstract name %s: %d bytes with its NUL, limit %d (sun_path); choose a shorter root" % (self.abstract_name, len(os.fsencode(addr)), sun_path_limit()))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # close-on-exec
        try:
            try:
                s.bind(addr)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise AlreadyRunning("%s: already running: the abstract name %s is bound by another process; nothing was touched" % (self.name, self.abstract_name))
                raise
            s.listen(BACKLOG)
        except BaseException:
            s.close()
            raise
        return s

    def _bind_tcp(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))  # loopback only
            s.listen(BACKLOG)
            self.token = secrets.token_hex(32)
            data = json.dumps({"port": s.getsockname()[1], "pid": os.getpid(), "token": self.token})
            self._write_port_file(data.encode())
        except BaseException:
            s.close()
            raise
        return s

    def _write_port_file(self, data):
        self._remove_stale("port")
        tmp = ".port.tmp.%d" % os.getpid()
        self._remove_stale(tmp)  # a crashed writer with our pid: stale (lock held)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self._dfd)
        try:
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask took away
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp, dir_fd=self._dfd)
            raise
        os.close(fd)
        # Readers see no file or a whole one: rename is atomic.
        os.rename(tmp, "port", src_dir_fd=self._dfd, dst_dir_fd=self._dfd)
        self._port_id = (st.st_dev, st.st_ino)

    # -- life cycle ---------------------------------------------------------

    def open(self):
        """Verify the directory, take the lock, remove stale entries, listen."""
        if self.transport == "abstract":
            # No file, directory or lock: the kernel's bind is exclusive.
            self.listener = self._bind_abstract()
            self.listener.setblocking(False)
            return self
        try:
            os.mkdir(self.root, 0o700)  # a runtime directory of our own, if missing
        except FileExistsError:
            pass  # the root is the caller's choice, like /tmp: links in it are followed
        self._rootfd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for _ in range(5):
                try:
                    self._open_private_dir()
                    self._lock()
                    break
                except _Retry:
                    self._undo()
            else:
                raise EndpointError("%s: endpoint changed while it was being opened, 5 times" % self.dir)
            self.listener = self._bind_unix() if self.transport == "unix" else self._bind_tcp()
            self.listener.setblocking(False)
        except BaseException:
            self.close()
            raise
        return self

    def _remove_if_ours(self, name, ident):
        if ident is None:
            return
        try:
            st = os.stat(name, dir_fd=self._dfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        # Race point: only the inode we created goes; a successor's stays.
        if (st.st_dev, st.st_ino) == ident:
            os.unlink(name, dir_fd=self._dfd)

    def _undo(self):
        if self._lockfd >= 0:
            # The lock is unlinked before it is released: see _lock().
            try:
                os.unlink("lock", dir_fd=self._dfd)
            except FileNotFoundError:
                pass
            os.close(self._lockfd)
            self._lockfd = -1
            self._dir_created = True  # ours, verified, and a daemon leaves nothing
        if self._dfd >= 0:
            os.close(self._dfd)
            self._dfd = -1
            if self._dir_created and self._same_dir():
                try:
                    os.rmdir("bu-%s.d" % self.name, dir_fd=self._rootfd)
                except OSError as e:
                    if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                        raise
        self._dir_created = False
        self._dir_id = None

    def close(self):
        """Stop listening; remove the socket, port file, lock and directory we made."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self._dfd >= 0 and self._lockfd >= 0:
            self._remove_if_ours("sock", self._sock_id)
            self._remove_if_ours("port", self._port_id)
        self._sock_id = self._port_id = None
        self._undo()
        if self._rootfd >= 0:
            os.close(self._rootfd)
            self._rootfd = -1


class _Conn:
    __slots__ = ("sock", "inbuf", "outbuf", "deadline", "closing", "state", "nonces")

    def __init__(self, sock, state):
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.state = state  # "ready", or "hello"/"proof" during the ipc handshake
        self.deadline = time.monotonic() + (IDLE_TIMEOUT if state == "ready" else HANDSHAKE_TIMEOUT)
        self.closing = False
        self.nonces = None

    def touch(self):
        """Push the idle deadline back; a handshake's deadline stays fixed."""
        if self.state == "ready":
            self.deadline = time.monotonic() + IDLE_TIMEOUT


def handshake_proof(key, role, name, port, first, second):
    """HMAC-SHA256(key, "bh-ipc/1 <role>\\0<name>\\0<port>\\0" + first + second)."""
    msg = ("%s %s\0%s\0%d\0" % (HANDSHAKE, role, name, port)).encode() + first + second
    return hmac.new(key, msg, hashlib.sha256).digest()


def default_handler(req):
    """The daemon's own requests; replace with yours. Return a JSON-able object."""
    if req.get("cmd") == "status":
        return {"ok": True, "pid": os.getpid()}
    return {"error": "unknown request"}


class Server:
    """A single-threaded selectors loop over an open Endpoint.

    serve() returns after SIGTERM or SIGINT (or stop()); the caller closes
    the endpoint.
    """

    def __init__(self, ep, handler=default_handler, log=sys.stderr, protocol="bh-json"):
        if protocol not in ("bh-json", "ipc"):
            raise EndpointError("protocol %r: want bh-json or ipc" % protocol)
        self.ep = ep
        self.protocol = protocol
        self.handler = handler
        self.log = log
        self.sel = selectors.DefaultSelector()
        self.conns = {}
        self._stop = False
        self._rejected = 0
        self._last_log = 0.0
        self._paused_until = 0.0

    def stop(self, *_):
        self._stop = True

    def serve(self):
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        old_fd = signal.set_wakeup_fd(wake_w.fileno())
        old = {s: signal.signal(s, self.stop) for s in (signal.SIGTERM, signal.SIGINT)}
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        self.sel.register(self.ep.listener, selectors.EVENT_READ, "accept")
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        try:
            while not self._stop:
                now = time.monotonic()
                if self._paused_until and now >= self._paused_until:
                    self._paused_until = 0.0
                    self.sel.register(self.ep.listener, selectors.EVENT_READ, "accept")
                timeout = min([c.deadline for c in self.conns.values()] + [now + 1.0]) - now
                for key, events in self.sel.select(max(timeout, 0)):
                    if key.data == "wake":
                        try:
                            wake_r.recv(512)
                        except BlockingIOError:
                            pass
                    elif key.data == "accept":
                        self._accept()
                    elif self.conns.get(key.fd) is key.data:  # not dropped earlier in this batch
                        self._io(key.data, events)
                now = time.monotonic()
                for c in [c for c in self.conns.values() if c.deadline <= now]:
                    self._drop(c)
        finally:
            for c in list(self.conns.values()):
                self._drop(c)
            self.sel.close()
            signal.set_wakeup_fd(old_fd)
            for s, h in old.items():
                signal.signal(s, h)
            wake_r.close()
            wake_w.close()

    def _accept(self):
        while True:
            try:
                sock, _ = self.ep.listener.accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: stop accepting for a moment rather than spin.
                    self.sel.unregister(self.ep.listener)
                    self._paused_until = time.monotonic() + 0.1
                    return
                if e.errno in (errno.ECONNABORTED, errno.EINTR):
                    continue
                raise
            if self.ep.transport in ("unix", "abstract"):
                try:
                    uid = peer_uid(sock)
                except OSError as e:
                    uid = "unknown (%s)" % e
                if uid != os.geteuid():
                    sock.close()  # before a byte is read
                    self._note_rejected(uid)
                    continue
                # An abstract name is reached from every mount namespace
                # (a --net=host container's root is uid 0 too): ours only.
                if self.ep.transport == "abstract" and not same_mount_ns(sock):
                    sock.close()
                    self._note_rejected("%d, from another mount namespace" % uid)
                    continue
            sock.setblocking(False)
            c = _Conn(sock, "hello" if self.ep.transport == "tcp" and self.protocol == "ipc" else "ready")
            self.conns[sock.fileno()] = c
            self.sel.register(sock, selectors.EVENT_READ, c)

    def _note_rejected(self, uid):
        # Rate-limited: a flood of foreign connects must not flood the log.
        self._rejected += 1
        now = time.monotonic()
        if now - self._last_log >= 1.0:
            print("bh_endpoint: rejected %d connection(s) from another uid (last: %s)" % (self._rejected, uid), file=self.log, flush=True)
            self._rejected, self._last_log = 0, now

    def _drop(self, c):
        self.conns.pop(c.sock.fileno(), None)
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def _io(self, c, events):
        if events & selectors.EVENT_WRITE and not self._flush(c):
            return
        if events & selectors.EVENT_READ and not c.closing:
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                self._drop(c)
                return
            if not data:  # EOF: a half line is discarded
                self._drop(c)
                return
            c.touch()
            c.inbuf += data
            while not c.closing:
                nl = c.inbuf.find(b"\n")
                if nl < 0 and c.state != "ready" and len(c.inbuf) > 512:
                    c.closing = True  # not a handshake: close, say nothing
                    break
                if nl < 0:
                    if len(c.inbuf) > MAX_LINE:
                        self._send(c, {"error": "request line exceeds %d bytes" % MAX_LINE})
                        c.closing = True
                    break
                line = bytes(c.inbuf[:nl])
                del c.inbuf[:nl + 1]
                if c.state != "ready":
                    self._handshake(c, line)
                    continue
                if len(line) > MAX_LINE:
                    self._send(c, {"error": "request line exceeds %d bytes" % MAX_LINE})
                    c.closing = True
                    break
                self._send(c, self._answer(c, line))
            if c.sock.fileno() in self.conns:
                self._flush(c)

    def _handshake(self, c, line):
        """One step of the ipc handshake, server first (see ipc/auth.go):

        C->S {"hello":"bh-ipc/1","nonce":Nc}
        S->C {"nonce":Ns,"proof":HMAC(K, "bh-ipc/1 server"|name|port|Nc|Ns)}
        C->S {"proof":HMAC(K, "bh-ipc/1 client"|name|port|Ns|Nc)}
        S->C {"ok":true}

        Anything else closes the connection without a reply.
        """
        if len(line) > 512:
            c.closing = True
            return
        key = bytes.fromhex(self.ep.token)
        port = self.ep.listener.getsockname()[1]
        try:
            msg = json.loads(line)
            if c.state == "hello":
                if msg.get("hello") != HANDSHAKE:
                    raise ValueError("not a hello")
                nc = bytes.fromhex(msg["nonce"])
                if len(nc) != 32:
                    raise ValueError("nonce length")
                ns = secrets.token_bytes(32)
                c.nonces = (nc, ns)
                self._send(c, {"nonce": ns.hex(), "proof": handshake_proof(key, "server", self.ep.name, port, nc, ns).hex()})
                c.state = "proof"
                return
            nc, ns = c.nonces
            got = bytes.fromhex(msg["proof"])
            if not hmac.compare_digest(got, handshake_proof(key, "client", self.ep.name, port, ns, nc)):
                raise ValueError("wrong proof")
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            c.closing = True
            return
        self._send(c, {"ok": True})
        c.state = "ready"
        c.touch()

    def _answer(self, c, line):
        try:
            req = json.loads(line)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return {"error": "request is not valid JSON"}
        if not isinstance(req, dict):
            return {"error": "request is not a JSON object"}
        if self.ep.transport == "tcp" and self.protocol == "bh-json":
            tok = req.pop("token", None)
            if not isinstance(tok, str) or not hmac.compare_digest(tok.encode(), self.ep.token.encode()):
                c.closing = True  # an unauthenticated client gets nothing more
                return {"error": "unauthorized"}
        if req.get("meta") == "ping":
            return {"pong": True, "pid": os.getpid()}
        try:
            return self.handler(req)
        except Exception as e:  # a handler bug must not stop the daemon
            return {"error": "handler failed: %s" % type(e).__name__}

    def _send(self, c, obj):
        try:
            c.outbuf += json.dumps(obj).encode() + b"\n"
        except (TypeError, ValueError) as e:
            c.outbuf += json.dumps({"error": "reply not encodable: %s" % e}).encode() + b"\n"

    def _flush(self, c):
        """Send what is pending; False if the connection was dropped."""
        if c.outbuf:
            try:
                n = c.sock.send(c.outbuf)
                del c.outbuf[:n]
                c.touch()
            except BlockingIOError:
                pass
            except OSError:
                self._drop(c)
                return False
        if not c.outbuf and c.closing:
            self._drop(c)
            return False
        if len(c.outbuf) > MAX_PENDING:
            self._drop(c)  # not reading its replies
            return False
        want = selectors.EVENT_WRITE if c.outbuf else selectors.EVENT_READ
        if c.outbuf and len(c.outbuf) <= MAX_LINE and not c.closing:
            want |= selectors.EVENT_READ
        if self.sel.get_key(c.sock).events != want:
            self.sel.modify(c.sock, want, c)
        return True


def main(argv=None):
    p = argparse.ArgumentParser(prog="bh_endpoint", description="A bh-json daemon on a private local endpoint.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve until SIGTERM or SIGINT")
    s.add_argument("--root", help="runtime directory (default: $BH_RUNTIME_DIR, else a private $XDG_RUNTIME_DIR, else $TMPDIR or /tmp)")
    s.add_argument("--name", required=True, help="endpoint name, [A-Za-z0-9_-]{1,64}")
    s.add_argument("--transport", default="unix", choices=("unix", "tcp", "abstract"),
                   help="abstract: the Linux abstract name @ROOT/bu-NAME.sock, open to every uid and mount namespace of the network namespace but for the peer check")
    s.add_argument("--protocol", default="bh-json", choices=("bh-json", "ipc"),
                   help="tcp: a token in every request (bh-json) or the mutual HMAC handshake (ipc)")
    a = p.parse_args(argv)
    try:
        ep = Endpoint(a.root, a.name, a.transport)
    except EndpointError as e:
        print("bh_endpoint: %s" % e, file=sys.stderr)
        return 2
    # A SIGTERM while the endpoint is being opened waits (blocked) until
    # serve() has its handler, so what open() created is still removed.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        ep.open()
    except (EndpointError, OSError) as e:
        print("bh_endpoint: %s" % e, file=sys.stderr)
        return 1
    try:
        where = {"unix": ep.sock_path, "abstract": ep.abstract_name}.get(ep.transport) or "127.0.0.1:%d (port file %s)" % (ep.listener.getsockname()[1], ep.port_path)
        print("bh_endpoint: pid %d serving %s on %s" % (os.getpid(), ep.name, where), file=sys.stderr, flush=True)
        Server(ep, protocol=a.protocol).serve()
    finally:
        ep.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
