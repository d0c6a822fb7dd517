package stage

import (
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchNative watches with inotify: the endpoint directory's parent for the
// directory's creation, then the directory for the socket's. On each event
// the socket is examined at once.
func watchNative(w *FirstSeen) func() {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil
	}
	const mask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_ATTRIB
	if _, err := unix.InotifyAddWatch(fd, w.watchParent(), mask); err != nil {
		unix.Close(fd)
		return nil
	}
	// The directory may exist already (pre-created by a scenario).
	dirWD, _ := unix.InotifyAddWatch(fd, w.dir, mask)
	dirName, sockName := filepath.Base(w.dir), filepath.Base(w.sock)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer unix.Close(fd)
		buf := make([]byte, 64<<10)
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			select {
			case <-w.done:
				return
			default:
			}
			if n, _ := unix.Poll(pfd, 20); n <= 0 {
				continue
			}
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				continue
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := ""
				if ev.Len > 0 {
					nb := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
					for i, c := range nb {
						if c == 0 {
							nb = nb[:i]
							break
						}
					}
					name = string(nb)
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
				switch {
				case name == dirName && int(ev.Wd) != dirWD:
					dirWD, _ = unix.InotifyAddWatch(fd, w.dir, mask)
					if w.observe("inotify: directory created, socket already there") {
						return
					}
				case name == sockName:
					if w.observe("inotify") {
						return
					}
				case name != "" && int(ev.Wd) == dirWD && ev.Mask&unix.IN_CREATE != 0:
					// Another name created in the directory: a socket
					// bound under a temporary name is examined at once.
					w.observeOther(name, "inotify")
				}
			}
		}
	}()
	return nil
}
