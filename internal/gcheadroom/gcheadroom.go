// Package gcheadroom keeps the Go heap's headroom between collections at a second's worth of
// allocation, up to a bound, while the collector is busy: what the garbage collector may let the
// heap grow by before it runs again.
//
// Why: GOGC sets that headroom in proportion to the live heap (GOGC=100: as much again). A
// gateway keeps its per-series state outside the Go heap (internal/offheap), so its live heap is
// small, 8–9 MB at 200k series and 100k samples/s, while the OTLP receiver's garbage is not, about
// 30 MB/s there: the collector ran four times a second, and the GC was 0.39 µs of the gateway's
// 1.31 µs a sample. With the headroom at a second's allocation, up to 16 MiB (fleet_health's
// default), it runs about twice a second; at 24 MiB, a little over once (BENCHMARKS.md). The
// price is that headroom in resident memory while the collector is busy; at rest, allocating
// little, the headroom is GOGC's again.
//
// How: after each collection (a cleanup on an object made for it, so nothing runs while nothing
// is collected) the allocation rate since the previous one decides the headroom wanted, and
// debug.SetGCPercent sets the GOGC that gives it, never below the process' own. Recheck, called
// by the owner now and then, lowers it again once the load stops, without waiting for the next
// collection. GOMEMLIMIT, when set, still bounds the heap: the runtime collects at whichever of
// the two it reaches first.
package gcheadroom // import "github.com/otelcol-fleet/otelcol-fleet/internal/gcheadroom"

import (
	"errors"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Interval is how much allocation the headroom is sized for: a second's, so that a busy collector
// collects about once a second, unless that would take more than the bound.
const Interval = time.Second

// The runtime's metrics: the first four read after each collection, in this order in
// Governor.samples; GOGC once, at Start.
const (
	metricAllocs  = "/gc/heap/allocs:bytes"
	metricLive    = "/gc/heap/live:bytes"
	metricStacks  = "/gc/scan/stack:bytes"
	metricGlobals = "/gc/scan/globals:bytes"
	metricGOGC    = "/gc/gogc:percent"
)

// Errors of Start: the GC is left as it is.
var (
	// ErrGOGCSet: the operator chose the collector's GOGC; it is theirs.
	ErrGOGCSet = errors.New("the GOGC environment variable is set")
	// ErrGCOff: collection is off (GOGC=off); only GOMEMLIMIT triggers it.
	ErrGCOff = errors.New("garbage collection is off (GOGC=off)")
	// ErrRunning: another component of the process already keeps the headroom.
	ErrRunning = errors.New("already kept by another component")
)

// running is set while a Governor runs: GOGC is one setting of the process, so one governs it.
var running atomic.Bool

// Governor keeps the heap's headroom; Start makes one, Stop ends it.
type Governor struct {
	maxHeadroom uint64
	base        int // GOGC at Start: the least the governor sets, and what Stop restores
	// onChange, if set, is told every GOGC set (for the owner's logs).
	onChange func(Change)

	mu      sync.Mutex
	stopped bool
	percent int // GOGC in force
	samples []metrics.Sample
	// lastAllocs and lastTime are the bytes allocated since the process started and when, at the
	// previous collection (zero before the first): the rate is over the time between two
	// collections, never since Start, which would count the collector's own start-up (the
	// components' Start, tens of MB in a moment) as load and widen the headroom of a collector
	// at rest until its next collection, minutes away.
	lastAllocs uint64
	lastTime   time.Time
	// scanned is what the last collection's GOGC applies to (see Percent).
	scanned uint64
	// checkAllocs and checkTime are where Recheck measures from: the last collection or the
	// last Recheck, whichever was later, so that a load that stopped shows at the next Recheck.
	checkAllocs uint64
	checkTime   time.Time
}

// Change is a GOGC the governor set, and why.
type Change struct {
	From, To int
	// Live is the heap the last collection left live; Rate the bytes allocated a second since
	// the collection before it.
	Live, Rate uint64
}

// Start keeps the heap's headroom at a second's allocation, up to maxHeadroom bytes. It returns
// an error, and leaves the GC alone, when GOGC is set in the environment, collection is off, or
// another Governor runs.
func Start(maxHeadroom uint64, onChange func(Change)) (*Governor, error) {
	if os.Getenv("GOGC") != "" {
		return nil, ErrGOGCSet
	}
	if !running.CompareAndSwap(false, true) {
		return nil, ErrRunning
	}
	gogc := []metrics.Sample{{Name: metricGOGC}}
	metrics.Read(gogc)
	// GOGC=off reads as -1 in the metric's uint64.
	if v := gogc[0].Value; v.Kind() != metrics.KindUint64 || int64(v.Uint64()) < 0 {
		running.Store(false)
		return nil, ErrGCOff
	}
	g := &Governor{maxHeadroom: maxHeadroom, onChange: onChange, samples: []metrics.Sample{
		{Name: metricAllocs}, {Name: metricLive}, {Name: metricStacks}, {Name: metricGlobals},
	}}
	g.base = int(gogc[0].Value.Uint64())
	g.percent = g.base
	g.arm()
	return g, nil
}

// Base is the GOGC the governor found, and sets back at Stop.
func (g *Governor) Base() int { return g.base }

// Stop sets GOGC back to what Start found. Safe twice.
func (g *Governor) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	g.stopped = true
	if g.percent != g.base {
		debug.SetGCPercent(g.base)
		g.percent = g.base
	}
	running.Store(false)
}

// sentinel is what a cleanup waits on: made unreachable at once, it is found so by the next
// collection. It holds a pointer so that it is not made by the tiny allocator, whose blocks are
// shared and may outlive it.
type sentinel struct{ _ *byte }

// arm asks to run afterGC once the next collection is over.
func (g *Governor) arm() {
	runtime.AddCleanup(&sentinel{}, (*Governor).afterGC, g)
}

// afterGC sets the GOGC for the headroom the allocation rate now wants, and arms again.
func (g *Governor) afterGC() {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return
	}
	metrics.Read(g.samples)
	now, allocs := time.Now(), g.samples[0].Value.Uint64()
	first := g.lastTime.IsZero()
	var rate uint64
	if elapsed := now.Sub(g.lastTime); !first && elapsed > 0 && allocs > g.lastAllocs {
		rate = uint64(float64(allocs-g.lastAllocs) / elapsed.Seconds())
	}
	g.lastAllocs, g.lastTime = allocs, now
	g.checkAllocs, g.checkTime = allocs, now
	if first {
		g.mu.Unlock()
		g.arm()
		return
	}
	live := g.samples[1].Value.Uint64()
	g.scanned = live + g.samples[2].Value.Uint64() + g.samples[3].Value.Uint64()
	change := g.set(Percent(g.base, g.scanned, rate, g.maxHeadroom), live, rate)
	g.mu.Unlock()
	g.tell(change)
	g.arm()
}

// Recheck lowers GOGC toward the process' own when the allocation rate since the last collection,
// or the last Recheck if later, has fallen. The next collection of a collector at rest may be
// minutes away (the runtime forces one every two minutes), and until then a headroom sized for a
// load that stopped would stay, and the little that is allocated would keep faulting in fresh
// pages of it. The owner calls it periodically (fleet_health: every check_interval). It never
// raises GOGC: only a collection, which measures the live heap, does.
func (g *Governor) Recheck() {
	g.mu.Lock()
	if g.stopped || g.percent == g.base || g.checkTime.IsZero() || time.Since(g.checkTime) < Interval {
		g.mu.Unlock()
		return
	}
	metrics.Read(g.samples[:1])
	now, allocs := time.Now(), g.samples[0].Value.Uint64()
	var rate uint64
	if allocs > g.checkAllocs {
		rate = uint64(float64(allocs-g.checkAllocs) / now.Sub(g.checkTime).Seconds())
	}
	g.checkAllocs, g.checkTime = allocs, now
	var change *Change
	if percent := Percent(g.base, g.scanned, rate, g.maxHeadroom); percent < g.percent {
		change = g.set(percent, g.samples[1].Value.Uint64(), rate)
	}
	g.mu.Unlock()
	g.tell(change)
}

// set makes percent the GOGC in force, if it is not; it returns the change, nil if none. Under mu.
func (g *Governor) set(percent int, live, rate uint64) *Change {
	if percent == g.percent {
		return nil
	}
	debug.SetGCPercent(percent)
	c := &Change{From: g.percent, To: percent, Live: live, Rate: rate}
	g.percent = percent
	return c
}

// tell passes a change to onChange, outside mu.
func (g *Governor) tell(c *Change) {
	if c != nil && g.onChange != nil {
		g.onChange(*c)
	}
}

// maxPercent bounds the GOGC set, whatever the heap: a headroom of maxHeadroom over a live heap of
// a few hundred kilobytes (a test binary) would otherwise ask for tens of thousands.
const maxPercent = 10_000

// Percent is the GOGC that gives a headroom of a second's allocation at rate (bytes a second), up
// to maxHeadroom bytes, and never less than base's. scanned is what GOGC is a percentage of: the
// live heap the last collection left, plus the goroutine stacks and globals it scanned (Go's
// pacer: goal = live + scanned × GOGC/100).
func Percent(base int, scanned, rate, maxHeadroom uint64) int {
	if scanned == 0 {
		return base
	}
	want := min(uint64(float64(rate)*Interval.Seconds()), maxHeadroom)
	p := int(math.Ceil(100 * float64(want) / float64(scanned)))
	return min(max(p, base), max(maxPercent, base))
}
