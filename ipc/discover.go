package ipc

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Endpoint is one endpoint found by List.
type Endpoint struct {
	Name      string    `json:"name"`
	Transport Transport `json:"transport"`
	// Path is the socket or the port file.
	Path string `json:"path"`
	// Live, PID and Err are set by ListLive: whether a ping was answered,
	// the pid it reported, and why not.
	Live bool   `json:"live"`
	PID  int    `json:"pid,omitempty"`
	Err  string `json:"error,omitempty"`

	// layout is where the entry was found, which is where Listen puts the
	// endpoint and Dial looks for it: ListLive probes exactly there.
	layout Layout
}

// List returns the endpoints under the root (WithRoot, else DefaultRoot()),
// including those moved to the short sun_path fallback, sorted by name. It
// only reads directory entries; it does not connect. An endpoint directory
// holding both a socket and a port file is listed once per transport. An
// entry is listed only where Listen would put that name and Dial looks for
// it (so never twice, and not a socket in the root whose path does not fit
// sun_path), and on POSIX only when its directory is ours: entries of other
// uids are skipped and counted in one warning per directory. A fallback
// directory is read only after it is verified as Dial verifies it (ours,
// not writable by group or others, not a link); one that is not, or cannot
// be read, is skipped. Skips are reported to WithOnWarning's function.
func List(ctx context.Context, opts ...Option) ([]Endpoint, error) {
	o := buildOptions(opts)
	root := o.root
	if root == "" {
		root = DefaultRoot()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	var found []Endpoint
	if runtime.GOOS == "windows" {
		ents, err := os.ReadDir(abs)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			n, ok := strings.CutPrefix(e.Name(), "bu-")
			if n, ok2 := strings.CutSuffix(n, ".port"); ok && ok2 && ValidateName(n) == nil && e.Type().IsRegular() {
				found = append(found, Endpoint{Name: n, Transport: TransportTCP, Path: filepath.Join(abs, e.Name())})
			}
		}
	} else {
		if found, err = listPOSIX(abs, o); err != nil {
			return nil, err
		}
	}
	var out []Endpoint
	for _, e := range found {
		// Only where Resolve puts the name: a socket in the root whose
		// path does not fit sun_path, or a port file in a fallback
		// directory, is nobody's endpoint (Dial would not look there).
		lay, err := resolveUID(e.Name, &options{root: abs, transport: e.Transport}, os.Geteuid())
		if err != nil || (e.Transport == TransportUnix && lay.Sock != e.Path) || (e.Transport == TransportTCP && lay.Port != e.Path) {
			continue
		}
		e.layout = lay
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Transport < out[j].Transport
	})
	return out, ctx.Err()
}

// ListLive is List followed by a ping of each endpoint (at most a second
// each, within ctx) at the exact place List found it, verified as Dial
// verifies it; it returns the endpoints that answered, with their pid.
// Endpoints that did not answer are left out.
func ListLive(ctx context.Context, opts ...Option) ([]Endpoint, error) {
	all, err := List(ctx, opts...)
	if err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	live := all[:0]
	for _, e := range all {
		e.PID, err = probe(ctx, e, o)
		if err == nil {
			e.Live = true
			live = append(live, e)
		}
	}
	return live, ctx.Err()
}

func probe(ctx context.Context, e Endpoint, o *options) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := dialLayout(ctx, e.layout, o)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.Identify(ctx)
}
