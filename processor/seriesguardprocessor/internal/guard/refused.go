package guard // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"

import "time"

// maxRemembered bounds the refused series remembered so that each is counted once.
const maxRemembered = 1 << 16

// Refused remembers recently refused series so that refused_series counts each series once,
// not once per data point. It is bounded: when full it forgets everything, and a series
// refused again after that is counted again.
type Refused struct {
	epoch     time.Time
	idleTicks uint32
	seen      map[uint64]uint32
}

// NewRefused returns an empty set forgetting series not refused for idleTimeout.
func NewRefused(idleTimeout time.Duration, epoch time.Time) *Refused {
	return &Refused{epoch: epoch, idleTicks: uint32(max(idleTimeout/tick, 1)), seen: map[uint64]uint32{}}
}

// Tick converts a time to the set's clock.
func (r *Refused) Tick(now time.Time) uint32 {
	d := now.Sub(r.epoch)
	if d < 0 {
		return 0
	}
	return uint32(d / tick)
}

// First records a refused series and reports whether it was not remembered yet.
func (r *Refused) First(hash uint64, now uint32) bool {
	if _, ok := r.seen[hash]; ok {
		r.seen[hash] = now
		return false
	}
	if len(r.seen) >= maxRemembered {
		clear(r.seen)
	}
	r.seen[hash] = now
	return true
}

// Sweep forgets the series not refused for the idle timeout.
func (r *Refused) Sweep(now uint32) {
	for h, t := range r.seen {
		if t <= now && now-t > r.idleTicks {
			delete(r.seen, h)
		}
	}
}
