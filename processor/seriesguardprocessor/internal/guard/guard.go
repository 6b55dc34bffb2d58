// Package guard holds the state of series_guard: which series are admitted, the counts the caps
// are checked against, the sliding-window expiry and the overflow accumulators.
//
// A series has two keys: the hash of its label set (what is counted: two data points of one
// label set are one series) and the raw identities of its data points (internal/seriesid: a
// hash of the attributes as they come, computed without building labels), by which a point of a
// known series is found with one hash and one lookup instead of mirroring the translator's label
// rules again. Nearly always a series has one raw identity; several may name one series
// (attributes in another order, names that collide once sanitized, resource attributes that
// become no label), and a series whose values were truncated has none (the next point of it
// must be truncated again).
//
// Both keys lead to one slot of the project's series table (internal/seriestable), keyed by the
// series' first raw identity (by its label-set hash until that identity is known: a series seen
// once costs no identity), which holds the series inline: its last sighting and its group
// (metric, tenant and weight, interned), 8 + 8 bytes plus a 4-byte index entry at most 3/4
// full. The label-set hash sits beside the table, 8 bytes by slot, and a second index of 4-byte
// entries (seriestable.Index) finds the slot by it; all of these are outside the Go heap
// (internal/offheap). A point of a known identity is one lookup, and touches only its 16-byte
// slot, as the identity table of old did. Each further raw identity of a series is a link: a
// slot of its own naming the series' slot, whose last sighting Sweep carries over to the series.
// Links are bounded by MaxTracked, like the series.
package guard // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"

import (
	"strings"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
	"github.com/otelcol-fleet/otelcol-fleet/internal/seriestable"
)

// Reason says why a series was refused or folded.
type Reason uint8

const (
	ReasonNone Reason = iota
	ReasonLabels
	ReasonLabelNameLength
	ReasonLabelValueLength
	ReasonMaxSeries
	ReasonMaxSeriesPerMetric
	ReasonTenant
	// ReasonMaxTrackedSeries: the state is full (max_tracked_series), nothing new can be tracked.
	ReasonMaxTrackedSeries
	NumReasons
)

var reasonNames = [NumReasons]string{"", "labels", "label_name_length", "label_value_length", "max_series",
	"max_series_per_metric", "tenant", "max_tracked_series"}

func (r Reason) String() string { return reasonNames[r] }

// Limits configures a Guard; 0 turns a limit off.
type Limits struct {
	MaxSeries          int
	MaxSeriesPerMetric int
	TenantMaxSeries    int
	TenantOverrides    map[string]int
	Window             time.Duration
	// MaxTracked bounds admitted plus folded series.
	MaxTracked int
	// Overflow folds refused series instead of dropping them.
	Overflow bool
}

// State of a series already known.
type State uint8

const (
	Unknown State = iota
	Admitted
	Folded
)

// entry is one slot of the guard's table: a series, or a link from a second raw identity of a
// series to the series' slot (see the package doc). 8 bytes, so that a slot (with its key) is
// 16 and never straddles two cache lines: it is all a point of a known identity touches. The
// series' label-set hash, which only the label-set index needs, is kept beside the table
// (Guard.seriesKeys).
type entry struct {
	lastSeen uint32 // ticks since the epoch
	// ref is, in a series entry, the index of its group in groups, with seriesKeyed set when the
	// slot is keyed by the series' hash (no raw identity known for it yet); in a link, the slot
	// of its series with linkRef set.
	ref uint32
}

const (
	// seriesKeyed marks, in entry.ref, a series slot keyed by the series' hash.
	seriesKeyed = 1 << 31
	// linkRef marks, in entry.ref, a link.
	linkRef = 1 << 30
	// refMask keeps the group index or slot of entry.ref: neither reaches 2^30 (a billion series
	// would take 24 GB of slots).
	refMask = linkRef - 1
)

func (e *entry) link() bool { return e.ref&linkRef != 0 }

// target is the group of a series entry, the series' slot of a link.
func (e *entry) target() uint32 { return e.ref & refMask }

// group is what series share: the metric and tenant they count against, and their weight.
// Interned, so that an entry holds 4 bytes for all three, not 10.
type group struct {
	metric  uint32 // index into metrics
	tenant  uint32 // index into tenants; 0 = no tenant
	weight  uint16 // Prometheus series in each series of the group (buckets, _sum, _count)
	members int64  // series of the group admitted
}

type groupKey struct {
	metric, tenant uint32
	weight         uint16
}

type metricState struct {
	name   string
	active int64
}

type tenantState struct {
	name   string
	active int64
	limit  int64
}

// tick is the resolution of lastSeen: uint32 ticks of 100 ms last 13 years.
const tick = 100 * time.Millisecond

// Guard is not safe for concurrent use: the processor serializes batches.
type Guard struct {
	limits      Limits
	epoch       time.Time
	windowTicks uint32

	// table holds the admitted series and the links of their other raw identities (see the
	// package doc); bySeries finds a series' slot by the hash of its label set, which
	// seriesKeys holds by slot (0 for a link), in chunks of keyChunk.
	table      *seriestable.Table[entry]
	bySeries   seriestable.Index
	seriesKeys []*[keyChunk]uint64
	// seriesKeyMem owns the chunks of seriesKeys, outside the Go heap (internal/offheap).
	seriesKeyMem []*offheap.Block
	// prev is the slot of the series last seen or admitted: a batch repeats the order in which
	// its series were first admitted, so the next one is usually in the slot after it.
	prev uint32
	// identityPrev is the slot of the raw identity last found, as prev is for series.
	identityPrev uint32
	// identities counts the slots keyed by a raw identity (series and links); links the links.
	identities int
	links      int
	// touched keeps the sum of what Prefetch reads, so that the reads are not removed.
	touched uint64
	folded  map[uint64]*FoldedSeries

	groupIndex  map[groupKey]uint32
	groups      []group
	freeGroups  []uint32
	lastGroup   uint32 // the group of the series admitted last
	metricIndex map[string]uint32
	metrics     []metricState
	freeMetrics []uint32
	tenantIndex map[string]uint32
	tenants     []tenantState // tenants[0] is "no tenant"
	freeTenants []uint32
	overflows   map[OverflowKey]*Overflow
	active      int64
	tracked     int64
	pending     []*Overflow
}

// New returns an empty Guard whose clock starts at epoch.
func New(l Limits, epoch time.Time) *Guard {
	w := l.Window / tick
	if w < 1 {
		w = 1
	}
	g := &Guard{
		limits:       l,
		epoch:        epoch,
		windowTicks:  uint32(w),
		table:        seriestable.New[entry](),
		prev:         seriestable.NoSlot,
		identityPrev: seriestable.NoSlot,
		folded:       map[uint64]*FoldedSeries{},
		groupIndex:   map[groupKey]uint32{},
		metricIndex:  map[string]uint32{},
		tenantIndex:  map[string]uint32{},
		tenants:      []tenantState{{}},
		overflows:    map[OverflowKey]*Overflow{},
	}
	g.bySeries = seriestable.NewIndex(g.seriesKey)
	return g
}

// keyChunk is how many slots' series keys one chunk of Guard.seriesKeys holds (32 KiB).
const keyChunk = 1 << 12

// seriesKey returns the key of the label-set hash of the series in slot i (0: a link).
func (g *Guard) seriesKey(i uint32) uint64 { return g.seriesKeys[i/keyChunk][i%keyChunk] }

func (g *Guard) setSeriesKey(i uint32, key uint64) {
	for int(i/keyChunk) >= len(g.seriesKeys) {
		keys, mem := offheap.Make[[keyChunk]uint64](1)
		g.seriesKeys = append(g.seriesKeys, &keys[0])
		g.seriesKeyMem = append(g.seriesKeyMem, mem)
	}
	g.seriesKeys[i/keyChunk][i%keyChunk] = key
}

// releaseSeriesKeys drops the chunks of seriesKeys past the table's slots (Table.Slots), which
// setSeriesKey adds again when the table grows.
func (g *Guard) releaseSeriesKeys() {
	keep := int((g.table.Slots() + keyChunk - 1) / keyChunk)
	for _, mem := range g.seriesKeyMem[keep:] {
		mem.Free()
	}
	clear(g.seriesKeys[keep:])
	clear(g.seriesKeyMem[keep:])
	g.seriesKeys, g.seriesKeyMem = g.seriesKeys[:keep], g.seriesKeyMem[:keep]
}

// isSeries reports whether slot i holds the series of this key.
func (g *Guard) isSeries(i uint32, key uint64) bool {
	k, e := g.table.At(i)
	return k != 0 && !e.link() && g.seriesKey(i) == key
}

// touchSeries reads what Seen reads of the series in slot i, for Prefetch.
func (g *Guard) touchSeries(i uint32) uint64 {
	return g.seriesKey(i) + uint64(g.table.Slot(i).lastSeen)
}

// Tick converts a time to the Guard's clock.
func (g *Guard) Tick(now time.Time) uint32 {
	d := now.Sub(g.epoch)
	if d < 0 {
		return 0
	}
	return uint32(d / tick)
}

// Prefetch starts loading the state of these series into the CPU cache, so that the Seen calls
// that follow (in any order) do not each wait for memory in turn. Series that follow the last
// one seen in the order of their slots (a batch that repeats its order) are only checked in
// their slot, which Seen then reads alone; from the first that does not, the rest go through
// the index. It changes nothing.
func (g *Guard) Prefetch(hashes []uint64) {
	prev, slots := g.prev, g.table.Slots()
	for j, h := range hashes {
		if next := prev + 1; next < slots {
			if g.isSeries(next, seriestable.Key(h)) {
				prev = next
				continue
			}
		}
		g.touched += g.bySeries.Prefetch(hashes[j:], seriestable.Key, g.touchSeries)
		return
	}
}

// lookupSeries returns the slot of an admitted series: the slot after the last one first (a
// batch that repeats its order), else through the index.
func (g *Guard) lookupSeries(key uint64) (uint32, bool) {
	if next := g.prev + 1; next < g.table.Slots() {
		if g.isSeries(next, key) {
			return next, true
		}
	}
	return g.bySeries.Lookup(key)
}

// Seen marks a known series as seen now and says what it is. It does not allocate.
func (g *Guard) Seen(hash uint64, now uint32) (State, *FoldedSeries) {
	if i, ok := g.lookupSeries(seriestable.Key(hash)); ok {
		g.prev = i
		e := g.table.Slot(i)
		if e.lastSeen != now { // no write, so no dirty cache line, within the same tick
			e.lastSeen = now
		}
		return Admitted, nil
	}
	if len(g.folded) > 0 {
		if f, ok := g.folded[hash]; ok {
			f.lastSeen = now
			return Folded, f
		}
	}
	return Unknown, nil
}

// PrefetchIdentities is Prefetch for raw identities (SeenIdentity).
func (g *Guard) PrefetchIdentities(ids []uint64) { g.table.Prefetch(g.identityPrev, ids) }

// SeenIdentity reports whether raw identity id names an admitted series (RememberIdentity), and
// if so marks it seen now: the caller need not compute the series' labels. It does not allocate.
//
// In the common case the identity keys the series' own slot, and that one lookup is all. A
// link (a second identity of a series) marks only itself: Sweep carries its last sighting over
// to the series before it expires any, so a series stays active while any of its identities is
// seen.
func (g *Guard) SeenIdentity(id uint64, now uint32) bool {
	i, ok := g.table.Lookup(g.identityPrev, id)
	if !ok {
		return false
	}
	e := g.table.Slot(i)
	if !e.link() && e.ref&seriesKeyed != 0 {
		return false // a series hash equal to this identity (a 64-bit collision): not an identity
	}
	g.identityPrev = i
	if e.lastSeen != now { // no write, so no dirty cache line, within the same tick
		e.lastSeen = now
	}
	if e.link() {
		g.prev = e.target()
	} else {
		g.prev = i // the next series of the batch is likely in the slot after this one
	}
	return true
}

// RememberIdentity maps raw identity id to the series last seen or admitted: call it right
// after Seen returned Admitted (or Admit returned ReasonNone) for the series id names, and only
// when the series' labels follow from the identity alone (not after truncating values: the
// next point of that identity must be truncated again). The first identity of a series keys the
// series' own slot and costs nothing; another one costs a link. Nothing is remembered once the
// identities reach MaxTracked (the series' own bound): hostile cardinality, such as one series'
// attributes sent in every order, then costs the label computation again, not memory.
func (g *Guard) RememberIdentity(id uint64, now uint32) {
	if g.prev == seriestable.NoSlot {
		return
	}
	if g.limits.MaxTracked > 0 && g.identities >= g.limits.MaxTracked {
		return
	}
	if i, ok := g.table.Lookup(g.identityPrev, id); ok {
		// Known already (ids 0 and 1, which the table keeps as one key, or a 64-bit collision
		// with a series hash): it keeps what it names.
		g.identityPrev = i
		if e := g.table.Slot(i); e.link() || e.ref&seriesKeyed == 0 {
			e.lastSeen = now
		}
		return
	}
	series := g.prev
	if s := g.table.Slot(series); s.ref&seriesKeyed != 0 {
		// The series' first identity: the slot is keyed by it from now on (the table gives
		// back the slot freed last: the series keeps its slot, and links can name it).
		kept, key := *s, g.seriesKey(series)
		kept.ref &^= seriesKeyed
		g.bySeries.Remove(key)
		g.table.Remove(series)
		i, _ := g.table.Find(series-1, id)
		*g.table.Slot(i) = kept
		g.setSeriesKey(i, key)
		g.bySeries.Insert(key, i, g.table.Slots())
		g.prev, g.identityPrev = i, i
		g.identities++
		return
	}
	i, _ := g.table.Find(g.identityPrev, id)
	g.identityPrev = i
	*g.table.Slot(i) = entry{lastSeen: now, ref: series | linkRef}
	g.setSeriesKey(i, 0)
	g.identities++
	g.links++
}

// Identities returns the number of raw identities remembered.
func (g *Guard) Identities() int { return g.identities }

// Admit decides on a series not known yet. It returns ReasonNone when the series is admitted,
// else why it is refused; with overflow on, the caller folds it (see Fold).
func (g *Guard) Admit(hash uint64, weight int, metric, tenant string, now uint32) Reason {
	key := seriestable.Key(hash)
	if i, ok := g.bySeries.Lookup(key); ok {
		// Only hashes 0 and 1, which count as one key, get here from the walker: the series
		// counts as the one already admitted, as two series with equal hashes do.
		g.prev = i
		g.table.Slot(i).lastSeen = now
		return ReasonNone
	}
	weight = clampWeight(weight)
	w := int64(weight)
	// The most specific cap first (tenant, metric, total), the memory bound last: a refusal
	// names the limit the team concerned can act on, whatever else is full.
	var ti uint32
	if tenant != "" {
		var tok bool
		ti, tok = g.tenantIndex[tenant]
		if limit := g.tenantLimit(tenant); limit > 0 {
			active := int64(0)
			if tok {
				active = g.tenants[ti].active
			}
			if active+w > limit {
				return ReasonTenant
			}
		}
	}
	mi, mok := g.metricIndex[metric]
	if g.limits.MaxSeriesPerMetric > 0 {
		active := int64(0)
		if mok {
			active = g.metrics[mi].active
		}
		if active+w > int64(g.limits.MaxSeriesPerMetric) {
			return ReasonMaxSeriesPerMetric
		}
	}
	if g.limits.MaxSeries > 0 && g.active+w > int64(g.limits.MaxSeries) {
		return ReasonMaxSeries
	}
	if g.limits.MaxTracked > 0 && g.tracked+w > int64(g.limits.MaxTracked) {
		return ReasonMaxTrackedSeries
	}
	i, added := g.table.Find(g.prev, hash)
	if !added {
		// The hash equals a raw identity's key (a 64-bit collision): the series counts as the
		// one that identity names, as two series with equal hashes do.
		return ReasonNone
	}
	g.prev = i
	if tenant != "" && ti == 0 {
		ti = g.internTenant(tenant, g.tenantLimit(tenant))
	}
	if !mok {
		mi = g.internMetric(metric)
	}
	gi := g.internGroup(groupKey{metric: mi, tenant: ti, weight: uint16(weight)})
	*g.table.Slot(i) = entry{lastSeen: now, ref: gi | seriesKeyed}
	g.setSeriesKey(i, key)
	g.bySeries.Insert(key, i, g.table.Slots())
	g.groups[gi].members++
	g.metrics[mi].active += w
	g.tenants[ti].active += w
	g.active += w
	g.tracked += w
	return ReasonNone
}

func (g *Guard) internGroup(k groupKey) uint32 {
	// Series of one metric tend to come together: the group of the last one admitted first.
	if i := g.lastGroup; int(i) < len(g.groups) && g.groups[i].members > 0 && g.groups[i].key() == k {
		return i
	}
	i, ok := g.groupIndex[k]
	if !ok {
		i = g.newGroup(k)
	}
	g.lastGroup = i
	return i
}

func (gr *group) key() groupKey {
	return groupKey{metric: gr.metric, tenant: gr.tenant, weight: gr.weight}
}

func (g *Guard) newGroup(k groupKey) uint32 {
	var i uint32
	if n := len(g.freeGroups); n > 0 {
		i = g.freeGroups[n-1]
		g.freeGroups = g.freeGroups[:n-1]
		g.groups[i] = group{metric: k.metric, tenant: k.tenant, weight: k.weight}
	} else {
		i = uint32(len(g.groups))
		g.groups = append(g.groups, group{metric: k.metric, tenant: k.tenant, weight: k.weight})
	}
	g.groupIndex[k] = i
	return i
}

func (g *Guard) tenantLimit(tenant string) int64 {
	if l, ok := g.limits.TenantOverrides[tenant]; ok {
		return int64(l)
	}
	return int64(g.limits.TenantMaxSeries)
}

func (g *Guard) internMetric(name string) uint32 {
	name = strings.Clone(name)
	var i uint32
	if n := len(g.freeMetrics); n > 0 {
		i = g.freeMetrics[n-1]
		g.freeMetrics = g.freeMetrics[:n-1]
		g.metrics[i] = metricState{name: name}
	} else {
		i = uint32(len(g.metrics))
		g.metrics = append(g.metrics, metricState{name: name})
	}
	g.metricIndex[name] = i
	return i
}

func (g *Guard) internTenant(name string, limit int64) uint32 {
	name = strings.Clone(name)
	var i uint32
	if n := len(g.freeTenants); n > 0 {
		i = g.freeTenants[n-1]
		g.freeTenants = g.freeTenants[:n-1]
		g.tenants[i] = tenantState{name: name, limit: limit}
	} else {
		i = uint32(len(g.tenants))
		g.tenants = append(g.tenants, tenantState{name: name, limit: limit})
	}
	g.tenantIndex[name] = i
	return i
}

// clampWeight keeps a weight in the 16 bits an entry stores, so that what is added to the counts
// on admission is exactly what is removed on expiry (a histogram of more than 65,534 buckets
// counts as 65,535 series).
func clampWeight(weight int) int { return min(max(weight, 1), 1<<16-1) }

// Sweep forgets the series not seen within the window, freeing their slots, and returns how
// many Prometheus series expired.
func (g *Guard) Sweep(now uint32) int64 {
	var expired int64
	idle := func(lastSeen uint32) bool { return now-lastSeen > g.windowTicks && lastSeen <= now }
	// Links first: a link that stays carries its last sighting over to its series, so its
	// series stays too (a series seen at or after a link of it is not older than the link),
	// and no link is left naming a freed slot. A link that expires leaves its series to its own
	// last sighting.
	if g.links > 0 {
		for i := range g.table.Slots() {
			if key, l := g.table.At(i); key != 0 && l.link() && !idle(l.lastSeen) {
				if e := g.table.Slot(l.target()); l.lastSeen > e.lastSeen {
					e.lastSeen = l.lastSeen
				}
			}
		}
	}
	// The series that expire leave the index before the table frees their slots, which the
	// index reads to confirm its entries: in runs, whose index entries are loaded together.
	var run [256]uint64
	n := 0
	for i := range g.table.Slots() {
		if key, e := g.table.At(i); key != 0 && !e.link() && idle(e.lastSeen) {
			run[n] = g.seriesKey(i)
			if n++; n == len(run) {
				g.touched += g.bySeries.RemoveAll(run[:n])
				n = 0
			}
		}
	}
	g.touched += g.bySeries.RemoveAll(run[:n])
	g.table.Sweep(func(e *entry) bool {
		if !idle(e.lastSeen) {
			return false
		}
		if e.link() {
			g.links--
			g.identities--
			return true
		}
		if e.ref&seriesKeyed == 0 {
			g.identities--
		}
		gr := &g.groups[e.target()]
		w := int64(gr.weight)
		g.metrics[gr.metric].active -= w
		g.tenants[gr.tenant].active -= w
		g.active -= w
		g.tracked -= w
		expired += w
		if gr.members--; gr.members == 0 {
			delete(g.groupIndex, gr.key())
			g.freeGroups = append(g.freeGroups, e.target())
		}
		return true
	})
	// The table gave back what the sweep left unused; so do the index and the keys beside it,
	// so that all of the guard's memory follows its series down.
	g.bySeries.Shrink(g.table.Slots())
	g.releaseSeriesKeys()
	// The slots last seen or found may have been freed: the hints start over.
	g.prev, g.identityPrev = seriestable.NoSlot, seriestable.NoSlot
	for h, f := range g.folded {
		if !idle(f.lastSeen) {
			continue
		}
		delete(g.folded, h)
		f.overflow.forget(f)
		g.tracked -= int64(f.weight)
		expired += int64(f.weight)
	}
	for k, o := range g.overflows {
		if o.members == 0 && now-o.lastTouched > g.windowTicks {
			delete(g.overflows, k)
		}
	}
	// Free the names no series refers to any more, so churning names do not grow the state.
	for i := range g.metrics {
		m := &g.metrics[i]
		if m.name != "" && m.active == 0 {
			delete(g.metricIndex, m.name)
			*m = metricState{}
			g.freeMetrics = append(g.freeMetrics, uint32(i))
		}
	}
	for i := 1; i < len(g.tenants); i++ {
		t := &g.tenants[i]
		if t.name != "" && t.active == 0 {
			delete(g.tenantIndex, t.name)
			*t = tenantState{}
			g.freeTenants = append(g.freeTenants, uint32(i))
		}
	}
	return expired
}

// Active returns the admitted Prometheus series in total.
func (g *Guard) Active() int64 { return g.active }

// Tracked returns the series held in state: admitted plus folded.
func (g *Guard) Tracked() int64 { return g.tracked }

// TrackedEntries returns the number of map entries (a histogram's series share one).
func (g *Guard) TrackedEntries() int { return g.table.Len() - g.links + len(g.folded) }

// MetricActive returns the admitted series of a metric.
func (g *Guard) MetricActive(metric string) int64 {
	if i, ok := g.metricIndex[metric]; ok {
		return g.metrics[i].active
	}
	return 0
}

// TenantUsage is the usage of one tenant against its limit.
type TenantUsage struct {
	Tenant string
	Active int64
	Limit  int64
}

// Tenants appends the usage of every tenant with admitted series to dst.
func (g *Guard) Tenants(dst []TenantUsage) []TenantUsage {
	for i := 1; i < len(g.tenants); i++ {
		t := g.tenants[i]
		if t.name != "" {
			dst = append(dst, TenantUsage{Tenant: t.name, Active: t.active, Limit: t.limit})
		}
	}
	return dst
}

// TenantLimit returns the limit that applies to a tenant.
func (g *Guard) TenantLimit(tenant string) int64 { return g.tenantLimit(tenant) }
