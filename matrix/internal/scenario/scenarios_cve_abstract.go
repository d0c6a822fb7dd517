package scenario

// Abstract sockets (issue 22, class 6): a target whose socket is a Linux
// abstract name (--socket @NAME), and auth.abstract-mount-ns, which
// replays containerd-shim's CVE-2020-15257.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// abstractScenarios follow the rest of the catalogue in report order.
var abstractScenarios = []stage.Scenario{
	{ID: "auth.abstract-mount-ns", Title: "abstract socket closed to its own uid in another mount namespace", Severity: target.Hardening, Platforms: []string{"linux"},
		Needs: []stage.Need{stage.NeedMountNS}, Transport: ipc.TransportUnix, Abstract: stage.AbstractOnly,
		Checks: "an abstract socket (--socket @NAME): a client of the daemon's own uid in a new mount namespace (a container sharing the host's network namespace) gets no reply",
		Run:    authAbstractMountNS},
}

func init() {
	catalogue = append(catalogue, abstractScenarios...)
	stage.RegisterAction("connect-mountns", func(ctx context.Context, arg json.RawMessage) (any, error) {
		var sp probe.Spec
		if err := json.Unmarshal(arg, &sp); err != nil {
			return nil, err
		}
		ns, err := os.Readlink("/proc/self/ns/mnt")
		if err != nil {
			return nil, err
		}
		return mountNSConnect{ConnectResult: probe.ConnectWatched(ctx, sp), MountNS: ns}, nil
	})
}

// mountNSConnect is what the helper action "connect-mountns" saw: its
// connect and ping, and the mount namespace it ran in
// (/proc/self/ns/mnt's link, "mnt:[N]").
type mountNSConnect struct {
	probe.ConnectResult
	MountNS string `json:"mount_ns"`
}

// describeSock is the socket's facts for the evidence: its file's, or
// that it is an abstract name.
func describeSock(e *stage.Env) string {
	if target.IsAbstract(e.Sock) {
		return e.Sock + ", an abstract name (no file, owner or mode)"
	}
	return world.Describe(e.Sock)
}

// describeEndpoint is the socket's and its directory's facts for the
// evidence.
func describeEndpoint(e *stage.Env) string {
	if target.IsAbstract(e.Sock) {
		return "socket " + describeSock(e)
	}
	return fmt.Sprintf("socket %s; dir %s", world.Describe(e.Sock), world.Describe(e.EndpointDir))
}

// runInMountNS runs helper action name as the daemon's uid in a mount
// namespace of its own (stage.MountNSAttr), as a container sharing the host's
// network namespace would act.
func runInMountNS(ctx context.Context, e *stage.Env, name string, arg, out any) error {
	attr, err := stage.MountNSAttr()
	if err != nil {
		return err
	}
	return e.RunAsIn(ctx, e.Runner.DaemonUID, attr, name, arg, out)
}

// authAbstractMountNS replays containerd-shim's CVE-2020-15257: the
// shim's API listened on an abstract socket and served any peer of uid 0.
// A container sharing the host's network namespace (--net=host) ran as uid
// 0 too, in a mount namespace of its own, and reached the socket: an
// abstract name is looked up in the network namespace and ignores the
// filesystem, and with it the container's. The suite connects as the
// daemon's own uid from a new mount namespace (unshare(CLONE_NEWNS) in the
// helper process) and pings: a reply fails.
func authAbstractMountNS(ctx context.Context, e *stage.Env) stage.Outcome {
	if _, _, err := e.Start(ctx); err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	own, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return stage.Errored("reading the suite's mount namespace: %v", err)
	}
	var r mountNSConnect
	// The daemon is authenticated first (sp.Auth: its uid and pid, from
	// the peer credentials), as the suite's own clients do: this client
	// is of the daemon's uid, and may run the target's exec probe.
	if err := runInMountNS(ctx, e, "connect-mountns", e.Spec(), &r); errors.Is(err, syscall.EPERM) {
		// Root without CAP_SYS_ADMIN: Docker's default container, or a
		// seccomp filter. Nothing was tried.
		return stage.Skip("no new mount namespace here (%v): the suite runs as root without CAP_SYS_ADMIN (a container's default) or under a filter; run it as root on the host", err)
	} else if err != nil {
		return stage.Errored("helper in a new mount namespace: %v", err)
	}
	e.Note("the helper ran in mount namespace %s; the suite (and the daemon it started) in %s", r.MountNS, own)
	if r.MountNS == "" || r.MountNS == own {
		return stage.Errored("the helper did not run in a mount namespace of its own (%q; the suite's is %s): nothing was tested", r.MountNS, own)
	}
	return judgeTalk(e, fmt.Sprintf("uid %d (the daemon's) from another mount namespace", e.Runner.DaemonUID), r.ConnectResult)
}
