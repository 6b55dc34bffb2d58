// Package fleet keeps the members that push their status to this collector and renders the
// fleet view (JSON and a small self-contained page).
package fleet // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"

import (
	"errors"
	"fmt"
	"maps"
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
	ReasonMalformed   = "malformed"    // not a report (bad JSON, no id, id too long)
	ReasonTooLarge    = "too_large"    // over MaxReportBytes
	ReasonMemberLimit = "member_limit" // from a new member while the registry is full
	ReasonPushFailed  = "push_failed"  // this collector's own report, not delivered
)

// Limits on what members may send, so a misbehaving fleet cannot grow this collector's memory.
const (
	MaxReportBytes = 64 << 10
	maxIDLength    = 256
	maxReasons     = 20
)

// Report is what a member pushes every check interval.
type Report struct {
	ID      string             `json:"id"`
	Role    string             `json:"role"`
	Ready   bool               `json:"ready"`
	Verdict string             `json:"verdict"`
	Reasons []string           `json:"reasons,omitempty"`
	Signals map[string]float64 `json:"signals,omitempty"`
	// IntervalSeconds is how often the member reports.
	IntervalSeconds float64   `json:"interval_seconds"`
	SentAt          time.Time `json:"sent_at"`
}

// Member is a report as the fleet view shows it.
type Member struct {
	Report
	State      string    `json:"state"`
	LastSeen   time.Time `json:"last_seen"`
	AgeSeconds float64   `json:"age_seconds"`
	Self       bool      `json:"self,omitempty"`
}

// ErrMemberLimit is returned when a report comes from a new member and the registry is full.
var ErrMemberLimit = errors.New("fleet member limit reached")

// Validate checks a report before it is recorded.
func (r *Report) Validate() error {
	if r.ID == "" {
		return errors.New("report has no id")
	}
	if len(r.ID) > maxIDLength || len(r.Role) > maxIDLength {
		return fmt.Errorf("report id or role longer than %d bytes", maxIDLength)
	}
	if len(r.Reasons) > maxReasons {
		r.Reasons = r.Reasons[:maxReasons]
	}
	return nil
}

// Registry holds the members' last reports. Safe for concurrent use.
type Registry struct {
	mu          sync.RWMutex
	members     map[string]*Member
	staleAfter  time.Duration
	forgetAfter time.Duration
	maxMembers  int
	now         func() time.Time
}

// NewRegistry returns an empty registry. Members silent for staleAfter are missing; after
// forgetAfter they are dropped from the view.
func NewRegistry(staleAfter, forgetAfter time.Duration, maxMembers int, now func() time.Time) *Registry {
	return &Registry{
		members:     map[string]*Member{},
		staleAfter:  staleAfter,
		forgetAfter: forgetAfter,
		maxMembers:  maxMembers,
		now:         now,
	}
}

// Record stores a member's report.
func (r *Registry) Record(rep Report) error {
	if err := rep.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, known := r.members[rep.ID]; !known && len(r.members) >= r.maxMembers {
		r.sweepLocked()
		if len(r.members) >= r.maxMembers {
			return ErrMemberLimit
		}
	}
	r.members[rep.ID] = &Member{Report: rep, LastSeen: r.now()}
	return nil
}

// Members returns every member sorted by id, with its state as of now.
func (r *Registry) Members() []Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked()
	now := r.now()
	out := make([]Member, 0, len(r.members))
	for _, id := range slices.Sorted(maps.Keys(r.members)) {
		m := *r.members[id]
		m.AgeSeconds = now.Sub(m.LastSeen).Seconds()
		switch {
		case now.Sub(m.LastSeen) >= r.staleAfter:
			m.State = StateMissing
		case m.Ready:
			m.State = StateReady
		default:
			m.State = StateNotReady
		}
		out = append(out, m)
	}
	return out
}

// Counts returns how many members are in each state (every state present, zero or not).
func (r *Registry) Counts() map[string]int {
	counts := map[string]int{StateReady: 0, StateNotReady: 0, StateMissing: 0}
	for _, m := range r.Members() {
		counts[m.State]++
	}
	return counts
}

func (r *Registry) sweepLocked() {
	now := r.now()
	for id, m := range r.members {
		if now.Sub(m.LastSeen) >= r.forgetAfter {
			delete(r.members, id)
		}
	}
}
