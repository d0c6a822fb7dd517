package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TCPExchange sends one line to 127.0.0.1:port and reads one reply line;
// the daemon id (when not nil) must be what listens (DialDaemonTCP). A
// connection held open with no reply line is judged by whileHeld while it
// still is (Env.answeringWhileHeld): err is nil when that found the
// silence a refusal, else a timeout or an error that says why not.
func TCPExchange(ctx context.Context, port int, id *DaemonIdentity, line string, whileHeld func(net.Conn) (string, bool)) (reply string, closed bool, err error) {
	c, err := DialDaemonTCP(ctx, port, id)
	if err != nil {
		return "", false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", true, err
	}
	b, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		var ne net.Error
		if ok := asNetErr(err, &ne); ok && ne.Timeout() {
			if why, ok := whileHeld(c); !ok {
				return strings.TrimSpace(b), false, errors.New(why)
			}
			return strings.TrimSpace(b), false, nil
		}
		return strings.TrimSpace(b), true, nil
	}
	return strings.TrimSpace(b), false, nil
}

func asNetErr(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// squatter listens on a given loopback port, records every byte clients
// send, and answers each line with a made-up challenge.
type squatter struct {
	ln  net.Listener
	mu  sync.Mutex
	got bytes.Buffer
}

func Squat(port int) (*squatter, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	s := &squatter{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					s.mu.Lock()
					s.got.Write(line)
					s.mu.Unlock()
					if err != nil {
						return
					}
					c.Write([]byte(`{"nonce":"` + strings.Repeat("00", 32) + `","proof":"` + strings.Repeat("11", 32) + `","pong":false}` + "\n"))
				}
			}()
		}
	}()
	return s, nil
}

func (s *squatter) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.got.Bytes())
}

func (s *squatter) Close() { s.ln.Close() }
