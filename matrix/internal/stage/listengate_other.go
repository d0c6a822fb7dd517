//go:build !linux

package stage

import (
	"errors"
	"os"

	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// The listen gate (listengate_linux.go) needs seccomp user notification,
// which only Linux has: elsewhere sock.first-seen-mode judges from what it
// observes of the socket path, and says so.

func installListenGate() {}

type ListenSight struct {
	Path, Unknown string
	Sock, Dir     world.Facts
}

type ListenGate struct{ child *os.File }

var errNoListenGate = errors.New("the listen gate needs seccomp user notification (Linux 5.5 or later)")

func NewListenGate(sock, dir string) (*ListenGate, error) { return nil, errNoListenGate }

func (g *ListenGate) started()                       {}
func (g *ListenGate) Stop()                          {}
func (g *ListenGate) Result() ([]ListenSight, error) { return nil, errNoListenGate }
