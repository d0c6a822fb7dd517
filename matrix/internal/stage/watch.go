package stage

import (
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// firstSight is the first observation of the socket path.
type firstSight struct {
	Via       string
	at        time.Time
	Sock, Dir world.Facts
}

// FirstSeen watches for the socket's first appearance: by inotify where
// available (watchNative) and by tight polling everywhere; the earliest
// observation wins.
type FirstSeen struct {
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

func WatchFirstSeen(dir, sock string) *FirstSeen {
	w := &FirstSeen{dir: dir, sock: sock, done: make(chan struct{})}
	w.stopExtra = watchNative(w)
	w.wg.Add(1)
	go w.poll()
	return w
}

// observe records the socket's state now, if it exists and nothing was
// recorded before.
func (w *FirstSeen) observe(via string) bool {
	s := world.Stat(w.sock)
	if s.Kind != "socket" {
		return false
	}
	d := world.Stat(w.dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got == nil {
		w.got = &firstSight{Via: via, at: time.Now(), Sock: s, Dir: d}
	}
	return true
}

// observeOther records the first sight of another socket, name, in the
// directory; it keeps at most maxOtherSockets.
func (w *FirstSeen) observeOther(name, via string) {
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
	w.others[name] = firstSight{Via: via, at: time.Now(), Sock: s, Dir: d}
}

// maxOtherSockets bounds the other sockets a watch records.
const maxOtherSockets = 16

// OtherSights are the other sockets' first sights, by name.
func (w *FirstSeen) OtherSights() map[string]firstSight {
	w.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.others
}

func (w *FirstSeen) poll() {
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

func (w *FirstSeen) Stop() {
	w.stopOnce.Do(func() {
		close(w.done)
		if w.stopExtra != nil {
			w.stopExtra()
		}
		w.wg.Wait()
	})
}

func (w *FirstSeen) Result() (firstSight, bool) {
	w.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got == nil {
		return firstSight{}, false
	}
	return *w.got, true
}

// watchParent is the directory in which the endpoint directory appears.
func (w *FirstSeen) watchParent() string { return filepath.Dir(w.dir) }
