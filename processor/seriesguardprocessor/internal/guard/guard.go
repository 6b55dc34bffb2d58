// Package guard holds the state of series_guard: which series are admitted, the counts the caps
// are checked against, the sliding-window expiry and the overflow accumulators.
//
// Admitted series are kept in the project's series table (internal/seriestable): per series an
// 8-byte key and a 16-byte entry in a dense slot, plus a 4-byte index entry at most 3/4 full.
// Metric names and tenants are interned once and referenced by index.
//
// A second table maps the raw identities of data points (internal/seriesid: a hash of the
// attributes as they come, computed without building labels) to the slot of their admitted
// series, so that a point of a known identity is found with one hash and one lookup instead of
// mirroring the translator's label rules again. Several identities may name one series
// (attributes in another order, names that collide once sanitized); the series, not the
// identity, is what is counted. Per identity: an 8-byte key and an 8-byte entry, plus a 4-byte
// index entry. Identities expire with the same idle timeout as series and are bounded by
// MaxTracked, like the series.
package guard // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"

import (
	"strings"
	"time"

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

type entry struct {
	lastSeen uint32 // ticks since the epoch
	metric   uint32 // index into metrics
	tenant   uint32 // index into tenants; 0 = no tenant
	weight   uint16 // Prometheus series in this group (buckets, _sum, _count)
}

// identityEntry is what the guard keeps of a raw identity of an admitted series.
type identityEntry struct {
	series   uint32 // the series' slot
	lastSeen uint32 // ticks since the epoch; propagated to the series by Sweep
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

	series *seriestable.Table[entry]
	// prev is the slot of the series last seen or admitted: a batch repeats the order in which
	// its series were first admitted, so the next one is usually in the slot after it.
	prev   uint32
	folded map[uint64]*FoldedSeries

	// identities maps a raw identity to the slot of its admitted series (see the package doc);
	// identityPrev is the slot of the identity last found, as prev is for series.
	identities   *seriestable.Table[identityEntry]
	identityPrev uint32

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
	return &Guard{
		limits:       l,
		epoch:        epoch,
		windowTicks:  uint32(w),
		series:       seriestable.New[entry](),
		prev:         seriestable.NoSlot,
		folded:       map[uint64]*FoldedSeries{},
		identities:   seriestable.New[identityEntry](),
		identityPrev: seriestable.NoSlot,
		metricIndex:  map[string]uint32{},
		tenantIndex:  map[string]uint32{},
		tenants:      []tenantState{{}},
		overflows:    map[OverflowKey]*Overflow{},
	}
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
// their slot, which Seen then reads alone (seriestable.Table.Prefetch). It changes nothing.
func (g *Guard) Prefetch(hashes []uint64) { g.series.Prefetch(g.prev, hashes) }

// Seen marks a known series as seen now and says what it is. It does not allocate.
func (g *Guard) Seen(hash uint64, now uint32) (State, *FoldedSeries) {
	if i, ok := g.series.Lookup(g.prev, hash); ok {
		g.prev = i
		e := g.series.Slot(i)
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
func (g *Guard) PrefetchIdentities(ids []uint64) { g.identities.Prefetch(g.identityPrev, ids) }

// SeenIdentity reports whether raw identity id names an admitted series (RememberIdentity), and
// if so marks it seen now: the caller need not compute the series' labels. It does not allocate.
//
// Only the identity's entry is written: Sweep carries its last sighting over to the series
// before it expires any, so a series stays active while any of its identities is seen.
func (g *Guard) SeenIdentity(id uint64, now uint32) bool {
	i, ok := g.identities.Lookup(g.identityPrev, id)
	if !ok {
		return false
	}
	g.identityPrev = i
	e := g.identities.Slot(i)
	if e.lastSeen != now { // no write, so no dirty cache line, within the same tick
		e.lastSeen = now
	}
	g.prev = e.series // the next series of the batch is likely in the slot after this one
	return true
}

// RememberIdentity maps raw identity id to the series last seen or admitted: call it right
// after Seen returned Admitted (or Admit returned ReasonNone) for the series id names, and only
// when the series' labels follow from the identity alone (not after truncating values: the
// next point of that identity must be truncated again). Nothing is remembered once the
// identities reach MaxTracked (the series' own bound): hostile cardinality, such as one series'
// attributes sent in every order, then costs the label computation again, not memory.
func (g *Guard) RememberIdentity(id uint64, now uint32) {
	if g.prev == seriestable.NoSlot {
		return
	}
	if g.limits.MaxTracked > 0 && g.identities.Len() >= g.limits.MaxTracked {
		return
	}
	i, added := g.identities.Find(g.identityPrev, id)
	g.identityPrev = i
	e := g.identities.Slot(i)
	if added {
		*e = identityEntry{series: g.prev, lastSeen: now}
		return
	}
	// Known already (ids 0 and 1, which the table keeps as one key): it keeps its series.
	e.lastSeen = now
}

// Identities returns the number of raw identities remembered.
func (g *Guard) Identities() int { return g.identities.Len() }

// Admit decides on a series not known yet. It returns ReasonNone when the series is admitted,
// else why it is refused; with overflow on, the caller folds it (see Fold).
func (g *Guard) Admit(hash uint64, weight int, metric, tenant string, now uint32) Reason {
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
	if tenant != "" && ti == 0 {
		ti = g.internTenant(tenant, g.tenantLimit(tenant))
	}
	if !mok {
		mi = g.internMetric(metric)
	}
	i, added := g.series.Find(g.prev, hash)
	g.prev = i
	if !added {
		// Only hashes 0 and 1, which the table keeps as one key, get here: the series counts as
		// the one already admitted, as two series with equal hashes do.
		g.series.Slot(i).lastSeen = now
		return ReasonNone
	}
	*g.series.Slot(i) = entry{lastSeen: now, metric: mi, tenant: ti, weight: uint16(weight)}
	g.metrics[mi].active += w
	g.tenants[ti].active += w
	g.active += w
	g.tracked += w
	return ReasonNone
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
	// Identities first: an identity that stays carries its last sighting over to its series,
	// so its series stays too (a series seen at or after an identity of it is not older than the
	// identity), and no identity is left naming a freed slot. An identity that expires leaves
	// its series to its own last sighting.
	g.identities.Sweep(func(id *identityEntry) bool {
		if now-id.lastSeen <= g.windowTicks || id.lastSeen > now {
			if e := g.series.Slot(id.series); id.lastSeen > e.lastSeen {
				e.lastSeen = id.lastSeen
			}
			return false
		}
		return true
	})
	g.series.Sweep(func(e *entry) bool {
		if now-e.lastSeen <= g.windowTicks || e.lastSeen > now {
			return false
		}
		w := int64(e.weight)
		g.metrics[e.metric].active -= w
		g.tenants[e.tenant].active -= w
		g.active -= w
		g.tracked -= w
		expired += w
		return true
	})
	for h, f := range g.folded {
		if now-f.lastSeen <= g.windowTicks || f.lastSeen > now {
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
func (g *Guard) TrackedEntries() int { return g.series.Len() + len(g.folded) }

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
