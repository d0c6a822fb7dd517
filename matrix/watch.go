package matrix

import (
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// firstSight is the first observation of the socket path.
type firstSight struct {
	via       string
	at        time.Time
	sock, dir world.Facts
}

// firstSeen watches for the socket's first appearance: by inotify where
// available (watchNative) and by tight polling everywhere; the earliest
// observation wins.
type firstSeen struct {
	dir, sock string
	mu        sync.Mutex
	got       *firstSight
	// others: the first sight of every other socket that appeared in the
	// directory before the socket did (a temporary name bound, chmodded,
	// then renamed over the final one, as haproxy and supervisord do), by
	// name; watched by inotify only.
	others    map[string]firstSight
	done      chan struct{}
	wg        sync.WaitGroup
	stopOnce  sync.Once
	stopExtra func()
}

func watchFirstSeen(dir, sock string) *firstSeen {
	w := &firstSeen{dir: dir, sock: sock, done: make(chan struct{})}
	w.stopExtra = watchNative(w)
	w.wg.Add(1)
	go w.poll()
	return w
}

// observe records the socket's state now, if it exists and nothing was
// recorded before.
func (w *firstSeen) observe(via string) bool {
	s := world.Stat(w.sock)
	if s.Kind != "socket" {
		return false
	}
	d := world.Stat(w.dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got == nil {
		w.got = &firstSight{via: via, at: time.Now(), sock: s, dir: d}
	}
	return true
}

// observeOther records the first sight of another socket, name, in the
// directory; it keeps at most maxOtherSockets.
func (w *firstSeen) observeOther(name, via string) {
	s := world.Stat(filepath.Join(w.dir, name))
	if s.Kind != "socket" {
		return
	}
	d := world.Stat(w.dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.others[name]; ok || len(w.others) >= maxOtherSockets {
		return
	}
	if w.others == nil {
		w.others = map[string]firstSight{}
	}
	w.others[name] = firstSight{via: via, at: time.Now(), sock: s, dir: d}
}

// maxOtherSockets bounds the other sockets a watch records.
const maxOtherSockets = 16

// otherSights are the other sockets' first sights, by name.
func (w *firstSeen) otherSights() map[string]firstSight {
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.others
}

func (w *firstSeen) poll() {
	defer w.wg.Done()
	for {
		select {
		case <-w.done:
			return
		default:
		}
		if w.observe("polling") {
			return
		}
		runtime.Gosched()
	}
}

func (w *firstSeen) stop() {
	w.stopOnce.Do(func() {
		close(w.done)
		if w.stopExtra != nil {
			w.stopExtra()
		}
		w.wg.Wait()
	})
}

func (w *firstSeen) result() (firstSight, bool) {
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got == nil {
		return firstSight{}, false
	}
	return *w.got, true
}

// watchParent is the directory in which the endpoint directory appears.
func (w *firstSeen) watchParent() string { return filepath.Dir(w.dir) }
