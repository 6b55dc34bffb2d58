package opampserver

import (
	"net"
	"sync"
	"sync/atomic"
)

// limitListener closes connections beyond max at once, instead of holding them (as
// netutil.LimitListener would): an agent that is refused backs off and retries, and the
// connections this collector holds, with their buffers and goroutines, stay bounded.
type limitListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused func()

	mu    sync.Mutex
	conns map[*limitedConn]struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			_ = c.Close()
			l.refused()
			continue
		}
		lc := &limitedConn{Conn: c, l: l}
		l.mu.Lock()
		if l.conns == nil {
			l.conns = map[*limitedConn]struct{}{}
		}
		l.conns[lc] = struct{}{}
		l.mu.Unlock()
		return lc, nil
	}
}

// closeAll closes every open connection (hijacked WebSockets included).
func (l *limitListener) closeAll() {
	if l == nil {
		return
	}
	l.mu.Lock()
	conns := make([]*limitedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return err
}
