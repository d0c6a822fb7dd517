package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// soExclusiveAddrUse is SO_EXCLUSIVEADDRUSE, ((int)(~SO_REUSEADDR)): no
// other socket may bind the same address, even with SO_REUSEADDR.
const soExclusiveAddrUse = ^windows.SO_REUSEADDR

// privateSDDL is the security descriptor of the port and lock files: a
// protected DACL (no inherited entries) granting full access to the user
// and SYSTEM only.
func privateSDDL() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("ipc: current user: %w", err)
	}
	return "D:P(A;;FA;;;" + u.User.Sid.String() + ")(A;;FA;;;SY)", nil
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
	var (
		h       windows.Handle
		created bool
	)
	// A predecessor's Close deletes the lock file just before closing its
	// handle; for that instant the name is "delete pending" and opening it
	// fails with ERROR_ACCESS_DENIED: retried. A second holder cannot
	// arise: whoever still has the old file open keeps the name taken.
	err = retrySharing(func() error {
		var err error
		created = true
		h, err = windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
			windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
		if errors.Is(err, windows.ERROR_FILE_EXISTS) {
			created = false
			h, err = windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
				windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, sa, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
		}
		return err
	})
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
	return &endpointLock{lay: lay, lock: h, lockCreated: created}, nil
}

// writePortFile writes a fresh file with the private DACL, created
// exclusively (CREATE_NEW), flushed, then moved over the port file with
// MOVEFILE_REPLACE_EXISTING, so a reader sees the old file or the new one.
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
	h, err := windows.CreateFile(tp, windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if errors.Is(err, windows.ERROR_FILE_EXISTS) {
		// A crashed writer with our pid: with the lock held it is stale.
		if derr := windows.DeleteFile(tp); derr == nil {
			h, err = windows.CreateFile(tp, windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
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
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var dp *uint16
		if dp, err = windows.UTF16PtrFromString(ep.lay.Port); err == nil {
			err = retrySharing(func() error {
				return windows.MoveFileEx(tp, dp, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
			})
		}
	}
	if err != nil {
		if derr := windows.DeleteFile(tp); derr != nil && !errors.Is(derr, windows.ERROR_FILE_NOT_FOUND) {
			err = errors.Join(err, derr)
		}
		return fmt.Errorf("ipc: write %s: %w", ep.lay.Port, err)
	}
	return nil
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
		// open; it disappears when the last handle closes.
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

// readPortFile reads the port file (its DACL keeps other users out). It
// opens with FILE_SHARE_DELETE, unlike os.Open, so a client reading at the
// instant the daemon replaces or removes the file never blocks it.
func readPortFile(path string) ([]byte, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, fmt.Errorf("ipc: read port file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(h), path)
	defer f.Close()
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("ipc: read port file %s: %w", path, err)
	}
	return b[:n], nil
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
