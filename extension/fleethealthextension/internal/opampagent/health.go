package opampagent

import (
	"strings"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
)

// Topology is which components each pipeline runs ("metrics" → "exporter:otlp_http/backend"),
// as learnt from component status events; the health tree is grouped by it.
type Topology map[string][]string

// ComponentKey names a component the way contrib's opampextension does: "<kind>:<id>".
func ComponentKey(kind, id string) string { return kind + ":" + id }

// Limits of the health tree sent, so a collector with many components stays a small message.
const (
	maxPipelines          = 64
	maxComponentsPerGroup = 64
	maxLastError          = 1024
)

// HealthFrom is the ComponentHealth of a verdict. At the top: healthy = ready, status = the
// verdict, last_error = the reasons' messages one per line. Below, "pipeline:<id>" entries hold
// "<kind>:<id>" entries for every component: healthy unless its last status is an error or a
// reason names it, status its component status, last_error its error or the reasons naming it.
// Components seen in no pipeline (extensions) sit at the top level.
func HealthFrom(r health.Report, topology Topology, start time.Time) *protobufs.ComponentHealth {
	now := unixNano(time.Now())
	if r.CheckedAt != nil {
		now = unixNano(*r.CheckedAt)
	}
	top := &protobufs.ComponentHealth{
		Healthy:            r.Ready,
		Status:             r.Verdict,
		StartTimeUnixNano:  unixNano(start),
		StatusTimeUnixNano: now,
		ComponentHealthMap: map[string]*protobufs.ComponentHealth{},
	}
	if !r.Ready {
		top.LastError = truncate(joinMessages(r.Reasons), maxLastError)
	}

	components := map[string]*protobufs.ComponentHealth{}
	for _, c := range r.Components {
		key := ComponentKey(c.Kind, c.ID)
		healthy := c.Status != "PermanentError" && c.Status != "FatalError"
		components[key] = &protobufs.ComponentHealth{
			Healthy:            healthy,
			Status:             c.Status,
			LastError:          truncate(c.Error, maxLastError),
			StatusTimeUnixNano: unixNano(c.Since),
		}
	}
	// A reason that names a component makes that component unhealthy in the tree.
	for _, reason := range r.Reasons {
		if reason.Component == "" {
			continue
		}
		kind, id, ok := strings.Cut(reason.Component, "/")
		if !ok {
			continue
		}
		key := ComponentKey(kind, id)
		ch := components[key]
		if ch == nil {
			ch = &protobufs.ComponentHealth{Status: "OK", StatusTimeUnixNano: now}
			components[key] = ch
		}
		ch.Healthy = false
		ch.LastError = truncate(strings.TrimPrefix(ch.LastError+"\n"+reason.Message, "\n"), maxLastError)
	}

	placed := map[string]bool{}
	pipelines := 0
	for pipeline, members := range topology {
		if pipelines >= maxPipelines {
			break
		}
		pipelines++
		group := &protobufs.ComponentHealth{Healthy: true, Status: "OK", StatusTimeUnixNano: now, ComponentHealthMap: map[string]*protobufs.ComponentHealth{}}
		for _, key := range members {
			ch := components[key]
			if ch == nil || len(group.ComponentHealthMap) >= maxComponentsPerGroup {
				continue
			}
			group.ComponentHealthMap[key] = ch
			placed[key] = true
			if !ch.Healthy {
				group.Healthy = false
				group.Status = ch.Status
				group.LastError = truncate(strings.TrimPrefix(group.LastError+"\n"+key+": "+ch.LastError, "\n"), maxLastError)
			}
		}
		top.ComponentHealthMap["pipeline:"+pipeline] = group
	}
	for key, ch := range components {
		if !placed[key] && len(top.ComponentHealthMap) < maxPipelines+maxComponentsPerGroup {
			top.ComponentHealthMap[key] = ch
		}
	}
	return top
}

func joinMessages(reasons []health.Reason) string {
	msgs := make([]string, 0, len(reasons))
	for _, r := range reasons {
		msgs = append(msgs, r.Message)
	}
	return strings.Join(msgs, "\n")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
