//go:build unix

package ipc

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// The verify after chmod is what stands between a socket loosened in that
// instant and a listening one: Listen must fail with ErrNotPrivate, and
// leave no listening socket behind.
func TestListenVerifiesSocketAfterChmod(t *testing.T) {
	root := shortRoot(t, 0o1777)
	testHookAfterChmod = func(p string) {
		if err := os.Chmod(p, 0o666); err != nil {
			t.Errorf("loosening %s: %v", p, err)
		}
	}
	t.Cleanup(func() { testHookAfterChmod = nil })
	ln, err := Listen(context.Background(), "loosened", WithRoot(root))
	if err == nil {
		ln.Close()
		t.Fatal("Listen served a socket loosened to 0666 between chmod and verify")
	}
	if !errors.Is(err, ErrNotPrivate) {
		t.Errorf("Listen: %v, want ErrNotPrivate", err)
	}
	lay, _ := Resolve("loosened", WithRoot(root))
	if _, err := os.Lstat(lay.Sock); err == nil {
		t.Errorf("%s left behind after the refusal", lay.Sock)
	}
}

// Dial reads a port file only when it is private: a 0644 one (readable by
// every local user, so its secret is no secret) is refused.
func TestDialRefusesReadablePortFile(t *testing.T) {
	ln, _ := listenTCPForTest(t, "readable")
	lay := ln.Layout()
	if err := os.Chmod(lay.Port, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "readable", WithRoot(lay.Root), WithTransport(TransportTCP))
	if err == nil {
		c.Close()
		t.Fatal("Dial used a 0644 port file")
	}
	if !errors.Is(err, ErrNotPrivate) {
		t.Errorf("Dial: %v, want ErrNotPrivate", err)
	}
}
