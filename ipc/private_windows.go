package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// soExclusiveAddrUse is SO_EXCLUSIVEADDRUSE, ((int)(~SO_REUSEADDR)): no
// other socket may bind the same address, even with SO_REUSEADDR.
const soExclusiveAddrUse = ^windows.SO_REUSEADDR

// currentUserSID is this process's user SID.
func currentUserSID() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("ipc: current user: %w", err)
	}
	return u.User.Sid, nil
}

// privateSDDL is the security descriptor of the port and lock files: the
// user as owner, named explicitly (a file an elevated administrator creates
// is otherwise owned by BUILTIN\Administrators), and a protected DACL (no
// inherited entries) granting full access to the user and SYSTEM only.
func privateSDDL() (string, error) {
	sid, err := currentUserSID()
	if err != nil {
		return "", err
	}
	u := sid.String()
	return "O:" + u + "D:P(A;;FA;;;" + u + ")(A;;FA;;;SY)", nil
}

func privateAttrs() (*windows.SecurityAttributes, error) {
	sddl, err := privateSDDL()
	if err != nil {
		return nil, err
	}
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, fmt.Errorf("ipc: security descriptor %s: %w", sddl, err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	return sa, nil
}

// endpointLock is a held endpoint on Windows: the lock file, locked with
// LockFileEx for the daemon's whole life.
type endpointLock struct {
	lay         Layout
	lock        windows.Handle
	lockCreated bool
	// posixRename records whether the last writePortFile replaced the
	// file with a POSIX-semantics rename (tests read it).
	posixRename bool
}

func acquireEndpoint(lay Layout) (*endpointLock, error) {
	sa, err := privateAttrs()
	if err != nil {
		return nil, err
	}
	p, err := windows.UTF16PtrFromString(lay.Lock)
	if err != nil {
		return nil, err
	}
	// A predecessor deletes the lock file while it still holds the lock
	// (abort), so the file a process opened may be gone from the name by
	// the time its LockFileEx succeeds. Without POSIX delete semantics the
	// name stayed "delete pending" while any handle was open; with them
	// (NTFS on Windows 10 and later, where DeleteFile now uses them)
	// the name is free at once, and a newcomer can create and lock a new
	// file there while this process locks the unlinked one: two daemons.
	// So, as the POSIX code does, the locked file's identity is compared
	// with the file the name leads to now, and on a mismatch the lock is
	// dropped and taken again. A few rounds suffice unless another process
	// keeps replacing the file, which only its owner (the same user) or an
	// administrator can do.
	for range 100 {
		h, created, err := openLockFile(p, sa)
		if err != nil {
			return nil, fmt.Errorf("ipc: open %s: %w", lay.Lock, err)
		}
		ol := new(windows.Overlapped)
		if err := windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol); err != nil {
			windows.CloseHandle(h)
			if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
				return nil, fmt.Errorf("ipc: listen %s: %w: lock %s is held by another process", lay.Name, ErrAlreadyRunning, lay.Lock)
			}
			return nil, fmt.Errorf("ipc: lock %s: %w", lay.Lock, err)
		}
		if lockedHook != nil {
			lockedHook(lay)
		}
		// Race point: between CreateFile and LockFileEx the holder may have
		// deleted the file and a newcomer created another at the name.
		// Defended: the identity check below. After it, the name cannot
		// change while we hold the lock: only a lock holder deletes it.
		same, err := sameFileAt(h, p)
		if err != nil {
			windows.UnlockFileEx(h, 0, 1, 0, new(windows.Overlapped)) // best effort: closing releases it too
			windows.CloseHandle(h)
			return nil, fmt.Errorf("ipc: lock %s: %w", lay.Lock, err)
		}
		if same {
			return &endpointLock{lay: lay, lock: h, lockCreated: created}, nil
		}
		// The locked file is no longer at the name: start over.
		windows.UnlockFileEx(h, 0, 1, 0, new(windows.Overlapped)) // best effort: closing releases it too
		windows.CloseHandle(h)
	}
	return nil, fmt.Errorf("ipc: lock %s: the file kept being replaced while it was locked", lay.Lock)
}

// lockedHook, when set (tests only), runs after LockFileEx succeeds and
// before the identity check, to stage the race that check defends.
var lockedHook func(Layout)

// openLockFile opens the lock file, creating it with sa when it does not
// exist; created reports which. A predecessor's Close deletes the lock file
// just before closing its handle; on file systems without POSIX delete
// semantics the name is "delete pending" for that instant and opening it
// fails with ERROR_ACCESS_DENIED: retried.
func openLockFile(p *uint16, sa *windows.SecurityAttributes) (h windows.Handle, created bool, err error) {
	const share = windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE
	err = retrySharing(func() error {
		var err error
		created = true
		h, err = windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, share, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
		if errors.Is(err, windows.ERROR_FILE_EXISTS) {
			created = false
			h, err = windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, share, sa, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
		}
		return err
	})
	return h, created, err
}

// fileID is a file's identity: its volume serial number and file index.
type fileID struct{ vol, hi, lo uint32 }

func fileIDOf(h windows.Handle) (fileID, error) {
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		return fileID{}, fmt.Errorf("GetFileInformationByHandle: %w", err)
	}
	return fileID{fi.VolumeSerialNumber, fi.FileIndexHigh, fi.FileIndexLow}, nil
}

// sameFileAt reports whether the file open as h is the one the name p leads
// to now (volume serial number and file index, re-opened without access
// rights so no lock or share mode can interfere). A name that leads
// nowhere is not the same file.
func sameFileAt(h windows.Handle, p *uint16) (bool, error) {
	want, err := fileIDOf(h)
	if err != nil {
		return false, err
	}
	h2, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return false, nil // gone, or delete pending
	}
	if err != nil {
		return false, err
	}
	defer windows.CloseHandle(h2)
	got, err := fileIDOf(h2)
	if err != nil {
		return false, err
	}
	return got == want, nil
}

// writePortFile writes a fresh file with the private owner and DACL,
// created exclusively (CREATE_NEW), flushed, then renamed over the port
// file, so a reader sees the old file or the new one. The rename uses POSIX
// semantics where the file system offers them (replaceWithPOSIXRename), so
// a client holding the old file open does not block it; elsewhere it falls
// back to MoveFileEx, retried while a reader has the file open.
func (ep *endpointLock) writePortFile(data []byte) error {
	sa, err := privateAttrs()
	if err != nil {
		return err
	}
	tmp := ep.lay.Port + ".tmp." + strconv.Itoa(os.Getpid())
	tp, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return err
	}
	dp, err := windows.UTF16PtrFromString(ep.lay.Port)
	if err != nil {
		return err
	}
	// DELETE access: the rename goes through this handle.
	const access = windows.GENERIC_WRITE | windows.DELETE | windows.SYNCHRONIZE
	h, err := windows.CreateFile(tp, access, windows.FILE_SHARE_DELETE, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if errors.Is(err, windows.ERROR_FILE_EXISTS) {
		// A crashed writer with our pid: with the lock held it is stale.
		if derr := windows.DeleteFile(tp); derr == nil {
			h, err = windows.CreateFile(tp, access, windows.FILE_SHARE_DELETE, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
		}
	}
	if err != nil {
		return fmt.Errorf("ipc: create %s: %w", tmp, err)
	}
	f := os.NewFile(uintptr(h), tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	renamed := false
	if err == nil {
		// Race point: the file renamed is the one written, through its
		// handle, not whatever the temporary name leads to by then. A
		// reader that opened the port file without FILE_SHARE_DELETE
		// (os.Open does) still blocks even this rename: retried.
		err = retrySharing(func() error {
			var err error
			renamed, err = replaceWithPOSIXRename(h, ep.lay.Port)
			return err
		})
		ep.posixRename = renamed
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !renamed {
		err = retrySharing(func() error {
			return windows.MoveFileEx(tp, dp, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
		})
	}
	if err != nil {
		if derr := windows.DeleteFile(tp); derr != nil && !errors.Is(derr, windows.ERROR_FILE_NOT_FOUND) {
			err = errors.Join(err, derr)
		}
		return fmt.Errorf("ipc: write %s: %w", ep.lay.Port, err)
	}
	return nil
}

// fileRenameInfoEx is FILE_RENAME_INFO as SetFileInformationByHandle takes
// it for FileRenameInfoEx (the Flags member of its union), followed in
// memory by the rest of FileName.
type fileRenameInfoEx struct {
	Flags          uint32
	RootDirectory  windows.Handle
	FileNameLength uint32 // bytes, without the terminating NUL
	FileName       [1]uint16
}

// FILE_RENAME_FLAG_REPLACE_IF_EXISTS and FILE_RENAME_FLAG_POSIX_SEMANTICS
// (winbase.h): replace the target even while it is open (with
// FILE_SHARE_DELETE), and free its name at once.
const (
	fileRenameFlagReplaceIfExists = 0x1
	fileRenameFlagPOSIXSemantics  = 0x2
)

// replaceWithPOSIXRename renames the file open as h (opened with DELETE
// access) to target, replacing target with POSIX semantics: readers that
// have the old file open keep reading it, and the rename does not wait for
// them. It reports false, with no error, where the system or the file system
// does not offer it (older Windows, FAT, Wine 8: the call fails with
// ERROR_INVALID_PARAMETER, ERROR_INVALID_FUNCTION or ERROR_NOT_SUPPORTED);
// the caller then falls back to MoveFileEx.
func replaceWithPOSIXRename(h windows.Handle, target string) (bool, error) {
	name, err := windows.UTF16FromString(target)
	if err != nil {
		return false, err
	}
	name = name[:len(name)-1] // FileNameLength excludes the NUL; the buffer keeps one
	off := unsafe.Offsetof(fileRenameInfoEx{}.FileName)
	buf := make([]byte, off+uintptr(len(name)+1)*2)
	info := (*fileRenameInfoEx)(unsafe.Pointer(&buf[0]))
	info.Flags = fileRenameFlagReplaceIfExists | fileRenameFlagPOSIXSemantics
	info.FileNameLength = uint32(len(name) * 2)
	copy(unsafe.Slice(&info.FileName[0], len(name)+1), name)
	err = windows.SetFileInformationByHandle(h, windows.FileRenameInfoEx, &buf[0], uint32(len(buf)))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_INVALID_PARAMETER), errors.Is(err, windows.ERROR_INVALID_FUNCTION), errors.Is(err, windows.ERROR_NOT_SUPPORTED):
		return false, nil
	}
	return false, fmt.Errorf("SetFileInformationByHandle FileRenameInfoEx: %w", err) // wraps the errno: retrySharing sees it
}

// release removes the port file while it still carries our token, deletes
// the lock file and releases the lock.
func (ep *endpointLock) release(portIsOurs func([]byte) bool) error {
	var errs []error
	if portIsOurs != nil {
		if b, err := os.ReadFile(ep.lay.Port); err == nil && portIsOurs(b) {
			if err := retrySharing(func() error { return os.Remove(ep.lay.Port) }); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	ep.lockCreated = true
	return errors.Join(append(errs, ep.abort())...)
}

// abort releases the lock and removes the lock file if this process made it.
func (ep *endpointLock) abort() error {
	if ep.lock == 0 {
		return nil
	}
	var errs []error
	if ep.lockCreated {
		// FILE_SHARE_DELETE on every handle lets the file be deleted while
		// open. Race point: it is deleted while still locked, so a process
		// that opened it before may lock it after the unlock below while a
		// newcomer locks a new file at the name (with POSIX delete
		// semantics the name is free at once). Defended in
		// acquireEndpoint: the locked file's identity is checked against
		// the name.
		if err := os.Remove(ep.lay.Lock); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := windows.UnlockFileEx(ep.lock, 0, 1, 0, new(windows.Overlapped)); err != nil {
		errs = append(errs, fmt.Errorf("ipc: unlock %s: %w", ep.lay.Lock, err))
	}
	if err := windows.CloseHandle(ep.lock); err != nil {
		errs = append(errs, fmt.Errorf("ipc: close %s: %w", ep.lay.Lock, err))
	}
	ep.lock = 0
	return errors.Join(errs...)
}

// retrySharing retries f while it fails because another process has the
// file open (a client reading the port file at that instant): Windows
// refuses to rename over or delete an open file, which POSIX allows, and a
// name whose file was deleted while open stays taken ("delete pending",
// ERROR_ACCESS_DENIED) until the last handle closes. It gives up after
// about two seconds.
func retrySharing(f func() error) error {
	var err error
	for i := 0; i < 200; i++ {
		if err = f(); err == nil || !(errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_ACCESS_DENIED)) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// readPortFile reads the port file after checking, on the open handle,
// that it is private (checkPortFileSecurity): the same handle is read, so
// the file checked is the file read. It opens with FILE_SHARE_DELETE,
// unlike os.Open, so a client reading at the instant the daemon replaces or
// removes the file never blocks it.
func readPortFile(path string) ([]byte, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.READ_CONTROL,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, fmt.Errorf("ipc: read port file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(h), path)
	defer f.Close()
	// Race point: another user may plant the file, or replace it, at any
	// time before the open. Defended: the owner and DACL are read from the
	// open handle, and only that handle is read.
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return nil, fmt.Errorf("ipc: read port file %s: security: %w", path, err)
	}
	user, err := currentUserSID()
	if err != nil {
		return nil, err
	}
	if err := checkPortFileSecurity(sd, user, underWine()); err != nil {
		return nil, fmt.Errorf("ipc: read port file %s: %w: %w", path, ErrNotPrivate, err)
	}
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("ipc: read port file %s: %w", path, err)
	}
	return b[:n], nil
}

// Well-known SIDs a port file's DACL may grant besides the user.
const (
	sidSystem         = "S-1-5-18"     // NT AUTHORITY\SYSTEM
	sidAdministrators = "S-1-5-32-544" // BUILTIN\Administrators
)

// checkPortFileSecurity accepts a port file's security descriptor only if
// its owner is user and its DACL is protected (no inherited entries) and
// allows access to no one but user, SYSTEM and Administrators (the
// principals that can read any file anyway). Deny entries are harmless; any
// other kind of entry is refused. wine waives the protected flag, which
// Wine does not store (it enforces no ACL either).
func checkPortFileSecurity(sd *windows.SECURITY_DESCRIPTOR, user *windows.SID, wine bool) error {
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("no owner (%v)", err)
	}
	if !owner.Equals(user) {
		return fmt.Errorf("owned by %s, not this user %s", owner, user)
	}
	ctl, _, err := sd.Control()
	if err != nil {
		return err
	}
	if ctl&windows.SE_DACL_PRESENT == 0 {
		return fmt.Errorf("no DACL: everyone has access")
	}
	if ctl&windows.SE_DACL_PROTECTED == 0 && !wine {
		return fmt.Errorf("DACL not protected: it inherits entries from its directory")
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	if dacl == nil {
		return fmt.Errorf("null DACL: everyone has access")
	}
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("GetAce %d: %w", i, err)
		}
		switch ace.Header.AceType {
		case windows.ACCESS_DENIED_ACE_TYPE:
			continue
		case windows.ACCESS_ALLOWED_ACE_TYPE:
		default:
			return fmt.Errorf("DACL entry %d has type %d, not a plain allow or deny", i, ace.Header.AceType)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if s := sid.String(); !sid.Equals(user) && s != sidSystem && s != sidAdministrators {
			return fmt.Errorf("DACL allows %s (access mask %#x); only %s, SYSTEM and Administrators may have access", s, ace.Mask, user)
		}
	}
	return nil
}

// underWine reports whether this process runs under Wine (ntdll exports
// wine_get_version there).
var underWine = sync.OnceValue(func() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
})

// isConnRefused reports whether a dial error means nothing listens on the
// port: WSAECONNREFUSED (10061). Go's syscall.ECONNREFUSED is a different
// invented value on Windows, and syscall.Errno.Is maps only the os.Err*
// sentinels, so errors.Is(err, syscall.ECONNREFUSED) never matches here.
func isConnRefused(err error) bool {
	return errors.Is(err, windows.WSAECONNREFUSED)
}

// isConnReset reports whether a read error means the peer reset the
// connection: WSAECONNRESET (10054), for the same reason as isConnRefused
// (syscall.ECONNRESET never matches on Windows). A server whose handshake
// slots are full closes a new connection unread, which a Windows client
// sees as a reset.
func isConnReset(err error) bool {
	return errors.Is(err, windows.WSAECONNRESET)
}

// listenLoopback listens on 127.0.0.1:0 with SO_EXCLUSIVEADDRUSE, so no
// other process can bind the same port while the daemon lives.
func listenLoopback(ctx context.Context) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = windows.SetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, soExclusiveAddrUse, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setsockopt SO_EXCLUSIVEADDRUSE: %w", serr)
		}
		return nil
	}}
	return lc.Listen(ctx, "tcp4", "127.0.0.1:0")
}

func listenUnix(ctx context.Context, lay Layout, o *options) (*Listener, error) {
	return nil, fmt.Errorf("ipc: listen %s: %w: unix transport on windows", lay.Name, ErrUnsupported)
}

func dialUnix(ctx context.Context, lay Layout, o *options) (*Conn, error) {
	return nil, fmt.Errorf("ipc: dial %s: %w: unix transport on windows", lay.Name, ErrUnsupported)
}

// isOwnPrivateDir is false on Windows: $XDG_RUNTIME_DIR is not used there.
func isOwnPrivateDir(string) bool { return false }

// readEndpointPort reads lay's port file; on Windows it is checked on the
// handle (readPortFile), there is no directory chain.
func readEndpointPort(lay Layout) ([]byte, error) { return readPortFile(lay.Port) }

// isPrivateDirOf is false on Windows, like isOwnPrivateDir.
func isPrivateDirOf(string, int) bool { return false }
