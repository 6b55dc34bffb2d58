package http

import (
	"sync"
	"time"
)

// snapshotTTL is how long one rendering of the fleet view is served. The view is rendered at
// most once per TTL whatever the number of readers, and every reader is served the same bytes:
// the memory of serving /fleet is one JSON and one HTML rendering, not one per concurrent
// request (measured before: 10 concurrent GETs of a 63 MB view took RSS to 3.46 GB).
const snapshotTTL = time.Second

type snapshot struct {
	at   time.Time
	json []byte
	html []byte
}

type snapshotCache struct {
	mu   sync.Mutex // held while rendering, so concurrent readers wait for one rendering
	last *snapshot
	// now is the wall clock (tests replace it): the TTL is about serving cost, so it does not
	// follow the view's injected clock.
	now func() time.Time
	ttl time.Duration // 0: snapshotTTL
}

func (c *snapshotCache) get(build func() *snapshot) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now == nil {
		c.now = time.Now
	}
	now := c.now()
	ttl := c.ttl
	if ttl <= 0 {
		ttl = snapshotTTL
	}
	if c.last != nil && now.Sub(c.last.at) < ttl && !now.Before(c.last.at) {
		return c.last
	}
	c.last = build()
	c.last.at = now
	return c.last
}
