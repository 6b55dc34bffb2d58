package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import "time"

// SendLag is how far behind the exporter is: now minus the time the oldest sample that is due and
// not yet delivered became due. A sample is due when it is queued without hold-back (stamp mode,
// or late), when its release time passes in hold-back (released or not: a release may be waiting
// for room on the shards), and when it is released early. Held samples before their release time
// do not count: holding them is the exporter's job, not a delay. 0 when nothing due is waiting.
//
// Due time, not the sample's own timestamp: a backfill, or an agent whose clock is behind, sends
// old samples that a healthy exporter delivers at once, and taking the gateway out of rotation
// would do nothing for them.
func (e *Engine) SendLag() time.Duration {
	now := e.clock.Now().UnixMilli()
	oldest, found := e.acct.due.Oldest()
	if e.hold != nil {
		if held, ok := e.hold.OldestDue(now); ok && (!found || held < oldest) {
			oldest, found = held, true
		}
	}
	if !found || oldest >= now {
		return 0
	}
	return time.Duration(now-oldest) * time.Millisecond
}

// QueueSize is the number of batches queued on the shards, not counting those being sent.
func (e *Engine) QueueSize() int64 {
	var n int64
	for _, s := range *e.shards.view.Load() {
		n += int64(s.Queued())
	}
	return n
}

// QueueCapacity is the number of batches the running shards may queue before pushes block.
func (e *Engine) QueueCapacity() int64 {
	n := e.NumShards()
	return int64(n * max(e.set.QueueSize/n, 1))
}
