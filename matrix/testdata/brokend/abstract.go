package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The abstract modes (-flaw abstractopen, abstractuid, abstractns,
// abstractpid) listen on the Linux abstract name abstractName(root, name),
// which the suite reaches as --socket '@{root}/bu-{name}.sock'. No
// directory, lock or stale socket: the kernel's bind of an abstract name
// is exclusive (a second start, or one after another uid bound the name
// first, gets EADDRINUSE and exits 1), and the name goes with the
// listener's last descriptor. They differ in the peer check only:
//
//	abstractopen  none: every process of the network namespace is served
//	abstractuid   the peer's uid must be ours, and nothing else
//	              (containerd-shim before 1.3.9/1.4.3 served any uid 0
//	              peer: a --net=host container's root too, CVE-2020-15257)
//	abstractns    no flaw: the peer's uid must be ours and its mount
//	              namespace ours (sameMountNS)
//	abstractpid   abstractns's check, made at the first request on the
//	              process that connected, by its pid (pidTrusting): the
//	              owner of /proc/<pid> then, root's once it exec'd a
//	              setuid-root program (polkit's CVE-2013-4288)

// abstractName is the abstract address of root and name ('@' stands for
// sun_path's leading NUL): the root in it gives each scenario its own.
func abstractName(root, name string) string { return "@" + root + "/bu-" + name + ".sock" }

// serveAbstract serves the abstract modes.
func serveAbstract(ctx context.Context, root, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid name %q", name)
	}
	ln, err := net.Listen("unix", abstractName(root, name))
	if err != nil {
		return err // EADDRINUSE: another instance holds the name
	}
	if flaw == "abstractpid" {
		return serve(ctx, pidTrusting{UnixListener: ln.(*net.UnixListener), sameNS: true}, "")
	}
	return serve(ctx, peerFiltered{ln.(*net.UnixListener), abstractPeerOK}, "")
}

// abstractPeerOK judges c's peer by the kernel's credentials, with the
// -flaw in effect.
func abstractPeerOK(c *net.UnixConn) bool {
	if flaw == "abstractopen" {
		return true // the flaw: no peer check at all
	}
	cred := peerCred(c)
	if cred == nil || int(cred.Uid) != os.Geteuid() {
		return false
	}
	if flaw == "abstractuid" {
		return true // the flaw: our uid, from any mount namespace
	}
	return sameMountNS(int(cred.Pid))
}

// sameMountNS reports whether process pid shares our mount namespace: its
// /proc/<pid>/mountinfo and ours list a common mount ID. Mount IDs are
// unique across namespaces (a new namespace's copies get new ones), and
// mountinfo is readable for any process, unlike /proc/<pid>/ns/mnt, which
// a peer that is not dumpable closes to its own uid. Not covered here: a
// pid reused between the connect and the read (SO_PEERPIDFD closes that
// gap; the Python reference daemon uses it).
func sameMountNS(pid int) bool {
	// The cheap way first: the namespace files' identities, where the
	// peer lets us stat them (a backlog of thousands of connections, as
	// inst.busy-not-stale makes, is drained one check each).
	var a, b syscall.Stat_t
	if syscall.Stat("/proc/"+strconv.Itoa(pid)+"/ns/mnt", &a) == nil && syscall.Stat("/proc/self/ns/mnt", &b) == nil {
		return a.Dev == b.Dev && a.Ino == b.Ino
	}
	theirs, err := mountIDs(strconv.Itoa(pid))
	if err != nil {
		return false
	}
	ours, err := mountIDs("self")
	if err != nil {
		return false
	}
	for id := range theirs {
		if ours[id] {
			return true
		}
	}
	return false
}

// mountIDs is the set of mount IDs (the first field) in
// /proc/<pid>/mountinfo.
func mountIDs(pid string) (map[string]bool, error) {
	b, err := os.ReadFile("/proc/" + pid + "/mountinfo")
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if id, _, ok := strings.Cut(line, " "); ok {
			ids[id] = true
		}
	}
	return ids, nil
}
