// Package fleet keeps the members that report to this collector (over OpAMP) and renders the
// fleet view (JSON and a small self-contained page). Everything a member sends is bounded here:
// the number of members, the length of every string and list, and each member's trend, so the
// view's size does not depend on what members send.
package fleet // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"sync"
	"time"
)

// Member states, also the values of the `state` attribute of otelcol_extension_fleet_health_members.
const (
	StateReady    = "ready"
	StateNotReady = "not_ready"
	StateMissing  = "missing"
)

// Why a report was dropped: the values of the `reason` attribute of
// otelcol_extension_fleet_health_reports_dropped.
const (
	ReasonMalformed   = "malformed"    // not a usable message (no or bad instance uid)
	ReasonMemberLimit = "member_limit" // from a new member while the registry is full
	ReasonNotOwner    = "not_owner"    // an instance uid claimed by another connection or credential
	ReasonConnLimit   = "connection_limit"
)

// Limits on what members may send, so a misbehaving fleet cannot grow this collector's memory
// or the view.
const (
	MaxStringLength = 256
	MaxReasonLength = 512
	MaxReasons      = 20
	// TrendPoints samples of each trend, TrendStep apart: the last five minutes.
	TrendPoints = 60
	TrendStep   = 5 * time.Second
)

// Signals kept from a member's report: the ones the fleet view shows, nothing else.
var knownSignals = []string{"queue", "memory", "refused", "send_failure", "send_lag"}

// Report is what the view shows of one member.
type Report struct {
	// ID is the member's name: fleet.id for our agents, else host.name, else service.instance.id.
	ID string `json:"id"`
	// InstanceUID is the OpAMP instance uid (hex), the key the member is known by.
	InstanceUID string `json:"instance_uid,omitempty"`
	Role        string `json:"role"`
	// Agent is service.name and service.version.
	Agent   string             `json:"agent,omitempty"`
	Ready   bool               `json:"ready"`
	Verdict string             `json:"verdict"`
	Reasons []string           `json:"reasons,omitempty"`
	Signals map[string]float64 `json:"signals,omitempty"`
	// SendLagSeconds is the member's largest send lag, when it publishes one.
	SendLagSeconds *float64 `json:"send_lag_seconds,omitempty"`
	// IntervalSeconds is how often the member reports its figures (0: unknown).
	IntervalSeconds float64 `json:"interval_seconds"`
}

// Sanitize bounds every string and list of the report and keeps only known, finite signals.
func (r *Report) Sanitize() {
	r.ID = Truncate(r.ID, MaxStringLength)
	r.InstanceUID = Truncate(r.InstanceUID, MaxStringLength)
	r.Role = Truncate(r.Role, MaxStringLength)
	r.Agent = Truncate(r.Agent, MaxStringLength)
	r.Verdict = Truncate(r.Verdict, MaxStringLength)
	// Copied, never changed in place: views handed out earlier may share the slice.
	reasons := make([]string, 0, min(len(r.Reasons), MaxReasons))
	for _, reason := range r.Reasons {
		if len(reasons) == MaxReasons {
			break
		}
		reasons = append(reasons, Truncate(reason, MaxReasonLength))
	}
	r.Reasons = reasons
	if len(r.Signals) > 0 {
		kept := make(map[string]float64, len(knownSignals))
		for _, k := range knownSignals {
			if v, ok := r.Signals[k]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				kept[k] = v
			}
		}
		r.Signals = kept
	}
	if r.SendLagSeconds != nil && (math.IsNaN(*r.SendLagSeconds) || math.IsInf(*r.SendLagSeconds, 0)) {
		r.SendLagSeconds = nil
	}
	if math.IsNaN(r.IntervalSeconds) || math.IsInf(r.IntervalSeconds, 0) || r.IntervalSeconds < 0 {
		r.IntervalSeconds = 0
	}
}

// Truncate cuts s to at most n bytes on a rune boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Member is a report as the fleet view shows it.
type Member struct {
	Report
	State      string    `json:"state"`
	LastSeen   time.Time `json:"last_seen"`
	AgeSeconds float64   `json:"age_seconds"`
	Self       bool      `json:"self,omitempty"`
	// Trend holds the member's queue fill, send lag and memory over the last minutes.
	Trend *Trend `json:"trend,omitempty"`
}

// ErrMemberLimit is returned when a report comes from a new member and the registry is full.
var ErrMemberLimit = errors.New("fleet member limit reached")

// ErrNotOwner is returned when a report claims a member that another connection or credential
// registered first.
var ErrNotOwner = errors.New("instance uid registered by another client")

// entry is one member with who owns it.
type entry struct {
	member Member
	// owner is the credential (or, without auth, the address) that first reported this
	// instance uid; only it may update the member until the member is forgotten.
	owner string
	trend TrendRing
}

// Registry holds the members' last reports, keyed by instance uid. Safe for concurrent use.
type Registry struct {
	mu          sync.Mutex
	members     map[string]*entry
	staleAfter  time.Duration
	forgetAfter time.Duration
	maxMembers  int
	now         func() time.Time
}

// NewRegistry returns an empty registry. Members silent for staleAfter are missing; after
// forgetAfter they are dropped from the view.
func NewRegistry(staleAfter, forgetAfter time.Duration, maxMembers int, now func() time.Time) *Registry {
	return &Registry{
		members:     map[string]*entry{},
		staleAfter:  staleAfter,
		forgetAfter: forgetAfter,
		maxMembers:  maxMembers,
		now:         now,
	}
}

// Apply records a message from the member keyed key, sent by owner: update changes its report
// (nil: the message only shows it is alive). A new member is refused with ErrMemberLimit while
// the registry is full of members not yet forgotten: live members are never evicted. A member
// owned by someone else is refused with ErrNotOwner. created says the member is new.
func (r *Registry) Apply(key, owner string, update func(*Report)) (created bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	e, known := r.members[key]
	if known && now.Sub(e.member.LastSeen) >= r.forgetAfter {
		delete(r.members, key)
		known = false
	}
	if known && e.owner != owner {
		return false, ErrNotOwner
	}
	if !known {
		if len(r.members) >= r.maxMembers {
			r.sweepLocked(now)
			if len(r.members) >= r.maxMembers {
				return false, ErrMemberLimit
			}
		}
		e = &entry{owner: owner, member: Member{Report: Report{InstanceUID: key, ID: key}}}
		r.members[key] = e
	}
	if update != nil {
		oldID := e.member.ID
		update(&e.member.Report)
		e.member.InstanceUID = key
		e.member.Report.Sanitize()
		e.trend.Add(now, e.member.Signals)
		if e.member.ID != oldID {
			r.replaceNamesakesLocked(key, e)
		}
	}
	e.member.LastSeen = now
	return !known, nil
}

// replaceNamesakesLocked drops the other entries with the same name and the same owner: a
// collector that restarted reports under a new instance uid (the collector draws a new
// service.instance.id at each start), and its old entry would otherwise stay as a second,
// missing row until forget_after. Entries of other owners are never touched.
func (r *Registry) replaceNamesakesLocked(key string, e *entry) {
	for k, other := range r.members {
		if k != key && other.owner == e.owner && other.member.ID == e.member.ID {
			delete(r.members, k)
		}
	}
}

// Known says whether key is a member not yet forgotten.
func (r *Registry) Known(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.members[key]
	return ok && r.now().Sub(e.member.LastSeen) < r.forgetAfter
}

// Members returns every member with its state as of now, worst first (see Worse).
func (r *Registry) Members() []Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.sweepLocked(now)
	out := make([]Member, 0, len(r.members))
	for _, e := range r.members {
		m := e.member
		m.AgeSeconds = now.Sub(m.LastSeen).Seconds()
		switch {
		case now.Sub(m.LastSeen) >= r.staleAfter:
			m.State = StateMissing
		case m.Ready:
			m.State = StateReady
		default:
			m.State = StateNotReady
		}
		m.Trend = e.trend.Snapshot()
		out = append(out, m)
	}
	SortWorstFirst(out)
	return out
}

// Counts returns how many members are in each state (every state present, zero or not).
func (r *Registry) Counts() map[string]int {
	counts := map[string]int{StateReady: 0, StateNotReady: 0, StateMissing: 0}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, e := range r.members {
		switch age := now.Sub(e.member.LastSeen); {
		case age >= r.forgetAfter:
		case age >= r.staleAfter:
			counts[StateMissing]++
		case e.member.Ready:
			counts[StateReady]++
		default:
			counts[StateNotReady]++
		}
	}
	return counts
}

func (r *Registry) sweepLocked(now time.Time) {
	for id, e := range r.members {
		if now.Sub(e.member.LastSeen) >= r.forgetAfter {
			delete(r.members, id)
		}
	}
}

// stateRank orders states worst first: not ready, missing, ready.
func stateRank(s string) int {
	switch s {
	case StateNotReady:
		return 0
	case StateMissing:
		return 1
	default:
		return 2
	}
}

// worstSignal is a member's highest signal share.
func worstSignal(m *Member) float64 {
	w := 0.0
	for _, v := range m.Signals {
		w = max(w, v)
	}
	return w
}

// SortWorstFirst orders members by state (not ready, missing, ready), then by their worst
// signal, highest first, then by id.
func SortWorstFirst(ms []Member) {
	slices.SortStableFunc(ms, func(a, b Member) int {
		if c := cmp.Compare(stateRank(a.State), stateRank(b.State)); c != 0 {
			return c
		}
		if c := cmp.Compare(worstSignal(&b), worstSignal(&a)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return cmp.Compare(a.InstanceUID, b.InstanceUID)
	})
}
