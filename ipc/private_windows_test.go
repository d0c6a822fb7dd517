package ipc

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// The decision on a port file's owner and DACL, for descriptors Windows
// itself parses from SDDL (so it runs the same under Wine, which neither
// keeps another owner on a file nor stores the protected flag).
func TestPortFileSecurity(t *testing.T) {
	user, err := currentUserSID()
	must(t, err)
	me := user.String()
	const other = "S-1-5-21-1-2-3-1001"
	for _, c := range []struct {
		name, sddl string
		wine       bool
		ok         bool
		why        string
	}{
		{"ours: user and SYSTEM", "O:" + me + "D:P(A;;FA;;;" + me + ")(A;;FA;;;SY)", false, true, ""},
		{"with Administrators", "O:" + me + "D:P(A;;FA;;;" + me + ")(A;;FA;;;SY)(A;;FA;;;BA)", false, true, ""},
		{"a deny entry for Everyone", "O:" + me + "D:P(D;;FA;;;WD)(A;;FA;;;" + me + ")", false, true, ""},
		{"owned by another user", "O:" + other + "D:P(A;;FA;;;" + other + ")(A;;FA;;;" + me + ")", false, false, "owned by " + other},
		{"owned by Administrators", "O:BAD:P(A;;FA;;;" + me + ")(A;;FA;;;SY)", false, false, "owned by S-1-5-32-544"},
		{"not protected", "O:" + me + "D:(A;;FA;;;" + me + ")(A;;FA;;;SY)", false, false, "not protected"},
		{"not protected, under Wine", "O:" + me + "D:(A;;FA;;;" + me + ")(A;;FA;;;SY)", true, true, ""},
		{"Everyone may read", "O:" + me + "D:P(A;;FA;;;" + me + ")(A;;FR;;;WD)", false, false, "allows S-1-1-0"},
		{"Everyone may read, under Wine", "O:" + me + "D:(A;;FA;;;" + me + ")(A;;FR;;;WD)", true, false, "allows S-1-1-0"},
		{"Users may write", "O:" + me + "D:P(A;;FA;;;" + me + ")(A;;FW;;;BU)", false, false, "allows S-1-5-32-545"},
		{"another user may read", "O:" + me + "D:P(A;;FA;;;" + me + ")(A;;FR;;;" + other + ")", false, false, "allows " + other},
		{"null DACL", "O:" + me + "D:NO_ACCESS_CONTROL", false, false, "DACL"},
		{"no DACL", "O:" + me, false, false, "no DACL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sd, err := windows.SecurityDescriptorFromString(c.sddl)
			must(t, err)
			err = checkPortFileSecurity(sd, user, c.wine)
			if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), c.why)) {
				t.Errorf("%s: %v, want ok=%v (%q)", c.sddl, err, c.ok, c.why)
			}
		})
	}
}

// A port file another user planted (here: one made without our descriptor,
// as os.WriteFile makes it) is refused with ErrNotPrivate before the client
// connects to the port it names. Under Wine the file's DACL read back
// grants Everyone read (Wine derives it from the Unix mode); on Windows it
// is not protected (it inherits the directory's entries).
func TestDialRefusesPlantedPortFile(t *testing.T) {
	root := shortRoot(t, 0o1777)
	sq := newRecorder(t, "")
	lay, err := Resolve("planted", WithRoot(root), WithTransport(TransportTCP))
	must(t, err)
	data := `{"port":` + strconv.Itoa(sq.port()) + `,"pid":1,"token":"` + strings.Repeat("ab", secretLen) + `"}`
	must(t, os.WriteFile(lay.Port, []byte(data), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Dial(ctx, "planted", WithRoot(root), WithTransport(TransportTCP))
	if !errors.Is(err, ErrNotPrivate) {
		t.Fatalf("Dial with a planted port file: %v, want ErrNotPrivate", err)
	}
	if got := sq.bytes(); len(got) != 0 {
		t.Errorf("the client talked to the planted port: %q", got)
	}
	t.Logf("refused: %v", err)
}

// The lock re-checks the locked file's identity: when the file a Listen
// opened is no longer at the name once locked (its holder deleted it and a
// newcomer made another), Listen locks the new one, so a second Listen is
// refused instead of becoming a second daemon.
func TestLockRechecksIdentity(t *testing.T) {
	root := shortRoot(t, 0o1777)
	lay, err := Resolve("relock", WithRoot(root), WithTransport(TransportTCP))
	must(t, err)
	swapped := false
	lockedHook = func(l Layout) {
		if swapped {
			return
		}
		swapped = true
		// The file just locked leaves the name (renamed away, as a POSIX
		// delete would free it) and another file takes it.
		from, _ := windows.UTF16PtrFromString(l.Lock)
		to, _ := windows.UTF16PtrFromString(l.Lock + ".old")
		if err := windows.MoveFileEx(from, to, 0); err != nil {
			t.Errorf("staging: rename the locked file: %v", err)
		}
		if err := os.WriteFile(l.Lock, nil, 0o600); err != nil {
			t.Errorf("staging: a new file at the name: %v", err)
		}
	}
	t.Cleanup(func() { lockedHook = nil })
	ep, err := acquireEndpoint(lay)
	must(t, err)
	defer ep.abort()
	if !swapped {
		t.Fatal("the hook never ran: the test staged nothing")
	}
	p, _ := windows.UTF16PtrFromString(lay.Lock)
	same, err := sameFileAt(ep.lock, p)
	must(t, err)
	if !same {
		t.Errorf("the lock held is not on the file at %s", lay.Lock)
	}
	if ep2, err := acquireEndpoint(lay); !errors.Is(err, ErrAlreadyRunning) {
		if err == nil {
			ep2.abort()
		}
		t.Errorf("second acquire after the swap: %v, want ErrAlreadyRunning (two daemons)", err)
	}
}

// The port file is replaced with a POSIX-semantics rename, so a reader
// holding the old file open neither blocks the daemon nor sees a partial
// file. Wine 8 implements no FileRenameInfoEx and refuses MoveFileEx over
// an open file, as Windows did before POSIX semantics.
func TestPortFileReplacedWhileOpen(t *testing.T) {
	root := shortRoot(t, 0o1777)
	lay, err := Resolve("openrepl", WithRoot(root), WithTransport(TransportTCP))
	must(t, err)
	ep, err := acquireEndpoint(lay)
	must(t, err)
	defer ep.release(func([]byte) bool { return true })
	file := func(port int) []byte {
		return []byte(`{"port":` + strconv.Itoa(port) + `,"pid":` + strconv.Itoa(os.Getpid()) + `,"token":"` + strings.Repeat("ab", secretLen) + `"}`)
	}
	must(t, ep.writePortFile(file(1000)))
	if !ep.posixRename {
		if underWine() {
			t.Skip("Wine 8 has no FileRenameInfoEx (ERROR_INVALID_PARAMETER), so the MoveFileEx fallback ran; run on Windows 10 or later with NTFS (the windows-latest CI job)")
		}
		t.Fatalf("the port file was replaced with MoveFileEx, not a POSIX-semantics rename, on this Windows")
	}
	p, _ := windows.UTF16PtrFromString(lay.Port)
	h, err := windows.CreateFile(p, windows.GENERIC_READ, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	must(t, err)
	old := os.NewFile(uintptr(h), lay.Port)
	defer old.Close()
	done := make(chan error, 1)
	go func() { done <- ep.writePortFile(file(2000)) }()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("replacing the port file while a reader holds it open did not finish")
	}
	b, err := readPortFile(lay.Port)
	must(t, err)
	if pf, err := ParsePortFile(b); err != nil || pf.Port != 2000 {
		t.Errorf("port file after the replacement: %+v %v, want port 2000", pf, err)
	}
	buf := make([]byte, 4096)
	n, _ := old.Read(buf)
	if pf, err := ParsePortFile(buf[:n]); err != nil || pf.Port != 1000 {
		t.Errorf("the reader's open file: %+v %v, want the old one (port 1000)", pf, err)
	}
}

// isConnRefused matches the refusal a dial to a closed loopback port gets.
func TestConnRefusedIsWSAECONNREFUSED(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	l.Close()
	_, err = net.Dial("tcp", addr)
	if err == nil {
		t.Skipf("something listens on %s again; rerun", addr)
	}
	if !isConnRefused(err) {
		t.Errorf("dial to a closed port: %v (%#v) is not recognised as refused", err, err)
	}
}
