// Package ipc is a hardened local IPC endpoint for daemons: a Unix socket in
// a private directory on Linux and macOS, and TCP loopback with a secret on
// Windows (and on any OS on request, WithTransport(TransportTCP)).
//
// # Against whom
//
// The attacker is another local uid. It can create entries in shared sticky
// directories such as /tmp, race the daemon's start, connect to any socket
// or loopback port it can reach, bind free loopback ports, and read anything
// not private. Root and the daemon's own uid are out of scope: nothing here
// defends against them.
//
// # What is guaranteed (unix transport)
//
// Listen(ctx, name) creates <root>/bu-<name>.d/ (root: WithRoot, else
// $BH_RUNTIME_DIR, else $XDG_RUNTIME_DIR when ours and private, else
// os.TempDir()) and in it "lock" and "sock":
//
//   - The name is [A-Za-z0-9_-]{1,64}; anything else is ErrInvalidName before
//     any filesystem call, so no name reaches outside the root.
//   - The directory holding the chain (the root, or the fallback's base
//     directory) must be one in which no other uid can rename entries: not
//     writable by group or others unless sticky, and owned by us or root.
//     Else Listen and Dial both refuse it with ErrNotPrivate naming it, its
//     owner and its mode: there another uid could rename our endpoint
//     directory away and another of ours into its place, which every other
//     check would accept. It is checked on the handle the chain is opened
//     through.
//   - The directory is mkdir'ed 0700, then opened O_NOFOLLOW|O_DIRECTORY and
//     verified on the handle: a directory, owned by us, identical to what
//     lstat saw. A symlink, a non-directory or another uid's directory is
//     refused with ErrNotPrivate and left as it was; nothing is ever created
//     through a symlink. Our own directory with a loose mode is tightened to
//     0700 through the handle.
//   - "lock" is flocked for the daemon's life. Held by another process:
//     ErrAlreadyRunning, and nothing is touched. A daemon that is alive but
//     too busy to accept (SIGSTOPped, full backlog) still holds its lock, so
//     it is never mistaken for a stale one. A "lock" that is not a regular
//     file of ours with exactly one link and no group or other access (a
//     symlink, an empty directory, another uid's file, a hard link to some
//     file of ours, another file of ours moved there, any of which another
//     uid may hold a flock on) was planted while the directory was loose:
//     its name is replaced with a fresh file, and whatever it linked to is
//     left alone.
//   - With the lock held, whatever is at "sock" is stale and is unlinked
//     without being followed (an empty directory too); a non-empty
//     directory there, at "port" or at "lock" can only have been planted
//     and is refused with ErrNotPrivate naming it and its owner, contents
//     untouched, saying to rename it aside (its contents may not be ours
//     to delete). Then socket, bind, chmod 0600
//     by path, lstat verify (a socket, ours, 0600), listen. The process
//     umask is never changed (it is process-wide, so changing it would race
//     every goroutine creating files). Between bind and listen the socket
//     file may carry a looser mode, but nothing can connect to a socket that
//     is not listening, and the directory is 0700. On Linux, bind and
//     connect go through /proc/self/fd/<dirfd>/, so the verified directory
//     is the one used.
//   - Accept returns only connections whose peer uid (SO_PEERCRED on Linux,
//     LOCAL_PEERCRED on macOS) is allowed (default: our euid); others are
//     closed before a byte is read, even if the socket's mode was loosened.
//   - Close unlinks the socket only while it is still the inode it bound
//     (Go's UnixListener.Close would unlink a successor's socket by name),
//     then the lock file and the directory, then releases the lock. Accept
//     reports the listener closed only once that is done, so a daemon that
//     exits as soon as Accept fails leaves nothing behind.
//   - Dial verifies the chain Listen made without creating or changing
//     anything: the fallback parents (if any), then the endpoint directory,
//     each opened O_NOFOLLOW|O_DIRECTORY inside the handle of the one
//     before and required to be a directory owned by us with no group or
//     other write. Anything else (a symlink, a non-directory, another uid's
//     directory, our directory loosened) is ErrNotPrivate naming the entry,
//     its owner and its mode; Dial never falls back to an unverified path.
//     Then "sock" in the verified directory must be a socket owned by us
//     (ErrNotPrivate), Dial connects through the verified handle
//     (/proc/self/fd/<dirfd>/sock on Linux), and a server whose peer uid is
//     not allowed is ErrPeerRejected. Without /proc (macOS) Dial connects
//     by the plain path and checks the chain and the socket again after
//     connect.
//     ListLive reaches endpoints through Dial, so the same holds for it.
//
// When <root>/bu-<name>.d/sock does not fit sun_path (107 bytes on Linux,
// 103 on macOS), Listen, Dial and List all use the same short fallback:
// $XDG_RUNTIME_DIR/bh/<tag of root>/bu-<name>.d/sock whenever
// $XDG_RUNTIME_DIR is a private directory of ours (and the socket fits
// there), else /tmp/bh-<uid>/<tag of root>/bu-<name>.d/sock. The choice
// depends only on inputs another uid cannot change (our environment and
// our private directory), never on the state of /tmp/bh-<uid>: a squat
// that is later released cannot make a second daemon of the same name
// start, nor a live one unreachable. Listen and Dial verify the fallback's
// directories as above, and List reads them only once verified; if the
// socket does not fit either, both return ErrPathTooLong naming the path,
// its length and the limit. A path is never truncated. When another uid
// holds /tmp/bh-<uid> (a symlink, a file, or its directory) and there is no
// private $XDG_RUNTIME_DIR, Listen and Dial both fail with ErrNotPrivate
// naming the holder, its owner and mode, and saying what to do. List and
// ListLive skip a fallback directory they cannot verify or read, reporting
// it to WithOnWarning's function, and list the rest. The fallback's parent
// directories are removed with the endpoint when this Listen created them
// and they are empty; a Listen that races such a removal starts over.
//
// # What is guaranteed (tcp transport)
//
// The listener binds 127.0.0.1:0 only (on Windows with SO_EXCLUSIVEADDRUSE).
// A 32-byte random secret and the port go into a port file,
// <root>/bu-<name>.d/port on POSIX (0600 in the 0700 directory, same lock)
// and <root>\bu-<name>.port on Windows, locked through <root>\bu-<name>.lock.
// It is created exclusively under a temporary name and renamed into place,
// so readers never see a partial file (it is not fsynced: after a crash the
// daemon is gone and the file stale whatever it holds). On POSIX Dial reads
// the port file through the chain it verifies for the unix transport (the
// holder, the fallback parents if any, the endpoint directory: ours,
// private, not links), then "port" inside the verified directory without
// following it: a private regular file of ours, else ErrNotPrivate. A port
// nobody listens on is ErrStale (ECONNREFUSED; WSAECONNREFUSED on Windows).
//
// On Windows the port and lock files are created with a security
// descriptor naming the user as owner (an elevated administrator's files
// are otherwise owned by BUILTIN\Administrators) and a protected DACL
// granting the user and SYSTEM. Dial checks the port file on the handle it
// reads (GetSecurityInfo): the owner must be the user and the DACL
// protected, allowing no one but the user, SYSTEM and Administrators
// (who can read any file anyway); else ErrNotPrivate, before any
// connection. The port file is replaced with a POSIX-semantics rename
// (FileRenameInfoEx), which readers holding the old file open do not
// block; where that is missing (older Windows, FAT, Wine) it falls
// back to MoveFileEx, retried briefly while a reader has the file open,
// and this package's clients open it with FILE_SHARE_DELETE. After
// LockFileEx the lock re-checks that the file it locked is still the one
// at the name (volume serial and file index), since a predecessor deletes
// the lock file and POSIX delete semantics free the name at once.
//
// Connections authenticate with a mutual HMAC-SHA256
// challenge-response, server first (see auth.go): the secret never crosses
// the wire, a squatter on a stale port learns nothing, a recorded transcript
// does not replay, and all comparisons are constant-time. Failures are
// ErrAuth on both sides. A connection whose first line is not the hello is
// closed without a byte sent and nothing after that line is read, so a web
// page that makes the user's browser POST to the port (a hello in the
// body, the browser's request line first) gets nothing, DNS rebinding or
// not.
//
// Unauthenticated connections are bounded: at most a quarter of the open
// file limit (4 to 128) may be in their handshake at once, and one that
// has not sent its hello within a second is closed. With every slot taken
// a new connection is admitted only if its hello is already waiting (a
// client sends it at once; a flood of silent connections is closed as fast
// as it is accepted), else closed unread, and the client tries again a few
// times (on Windows, where the listener cannot peek, it relies on that
// alone). This bounds a flood from another uid; it does not make denial of
// service impossible.
//
// # Protocol
//
// Newline-delimited JSON objects, at most MaxLine (1 MiB) a line, with a
// read deadline on every connection (Server.IdleTimeout). {"meta":"ping"}
// is answered {"pong":true,"pid":N}; everything else goes to the Handler. A
// malformed line gets an {"error":...} reply; an over-long line gets one and
// the connection is closed.
//
// # What is not guaranteed
//
//   - On Linux the socket is bound as /proc/self/fd/<n>/sock, and that is
//     the name ss, lsof and /proc/net/unix show for it; Listener.Addr and
//     Layout give the real path.
//   - On macOS a daemon whose listen backlog is full refuses connections
//     with ECONNREFUSED (xnu uipc_usrreq.c, unp_connect: sonewconn in
//     uipc_socket2.c fails once the queue holds the backlog, with the
//     default kern.ipc.soqlimitcompat=1), the same error as a socket
//     nobody listens on; Linux says EAGAIN, which Dial retries
//     within ctx. So on macOS Dial reports a live but busy daemon as
//     ErrStale, and does not retry: it cannot tell the two apart. ErrStale
//     from Dial is therefore a hint, never proof: nothing in this package
//     removes an endpoint because a connect was refused. Only Listen does,
//     holding the lock, and a busy daemon still holds its lock, so it is
//     never replaced (ErrAlreadyRunning).
//   - On macOS there is no /proc: bind and connect use the plain path after
//     the checks. Since the directory holding the chain must be one where
//     no other uid can rename entries, none can swap our directory in that
//     window; the ancestors of that directory are trusted as given.
//   - Another uid can deny service where the root is shared: pre-create
//     /tmp/bu-<name>.d (Listen and Dial are refused with ErrNotPrivate,
//     naming the owner and saying the endpoint has nowhere else to go),
//     hold /tmp/bh-<uid> when $XDG_RUNTIME_DIR is no private directory of
//     ours, or occupy a port. With no root given and a private
//     $XDG_RUNTIME_DIR (or macOS's per-user $TMPDIR) the endpoint lives in
//     a per-user base no other uid can create in, and Dial looks there in
//     the same order (DefaultRoot): no squat is possible.
//   - Windows has no AF_UNIX transport here (ErrUnsupported). Wine (8)
//     enforces no ACL: it reports every file as owned by the user, derives
//     the DACL it reports from the Unix mode (the user and SYSTEM, plus
//     Everyone when world-readable) and stores no "protected" flag, so under
//     Wine the client waives the protected check.
//   - Peer credentials are implemented on Linux and macOS; on other Unixes
//     every Unix-socket peer is rejected.
//   - A client reading a port file trusts whoever can write it: our own uid.
package ipc
