package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
)

// routes maps the endpoints. GET patterns also answer HEAD.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.healthCheck)
	mux.HandleFunc("GET /livez", s.livez)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /fleet", s.fleetView)
	mux.HandleFunc("GET /fleet.html", s.fleetPage)
	return mux
}

type livenessDoc struct {
	Status        string  `json:"status"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// livez answers 200 while the collector runs: never 503 for backpressure, because restarting a
// busy collector loses its queues and makes the pressure worse.
func (s *Server) livez(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, livenessDoc{Status: "alive", UptimeSeconds: s.set.Now().Sub(s.startedAt()).Seconds()})
}

// healthCheckDoc is health_check's answer (contrib extension/healthcheckextension v0.165.1,
// internal/healthcheck), field for field, so that probes and scripts written for it keep working.
type healthCheckDoc struct {
	Status  string    `json:"status"`
	UpSince time.Time `json:"upSince"`
	Uptime  string    `json:"uptime"`
}

// healthCheck answers `/` as health_check does: 200 "Server available" while the pipelines run,
// 503 "Server not available" before they started and once shutdown began; never for
// backpressure (that is /readyz). /livez is the probe that stays 200 from start to stop.
func (s *Server) healthCheck(w http.ResponseWriter, _ *http.Request) {
	doc, code := healthCheckDoc{Status: "Server not available"}, http.StatusServiceUnavailable
	if running, since := s.set.Running(); running {
		doc = healthCheckDoc{Status: "Server available", UpSince: since, Uptime: s.set.Now().Sub(since).String()}
		code = http.StatusOK
	}
	body, _ := json.Marshal(doc)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

type readinessDoc struct {
	Ready   bool            `json:"ready"`
	Verdict string          `json:"verdict"`
	Reasons []health.Reason `json:"reasons,omitempty"`
	Actions []string        `json:"actions,omitempty"`
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	r := s.set.Report()
	code := http.StatusOK
	if !r.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, readinessDoc{Ready: r.Ready, Verdict: r.Verdict, Reasons: r.Reasons, Actions: r.Actions})
}

type statusDoc struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	health.Report
	TelemetryEndpoint string `json:"telemetry_endpoint"`
	// OpAMP is the state of the agent and server sides (no credentials: endpoints are shown
	// without user info or query).
	OpAMP any `json:"opamp,omitempty"`
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	r := s.set.Report()
	self := s.set.Self(r)
	writeJSON(w, http.StatusOK, statusDoc{ID: self.ID, Role: self.Role, Report: r, TelemetryEndpoint: s.set.TelemetryEndpoint(), OpAMP: s.opampStatus()})
}

// view is the fleet: this collector first, then every member that reports to it.
func (s *Server) view() fleet.View {
	now := s.set.Now()
	self := s.set.Self(s.set.Report())
	state := fleet.StateNotReady
	if self.Ready {
		state = fleet.StateReady
	}
	members := []fleet.Member{{Report: self, State: state, LastSeen: now, Self: true}}
	if s.set.SelfTrend != nil {
		members[0].Trend = s.set.SelfTrend()
	}
	counts := map[string]int{fleet.StateReady: 0, fleet.StateNotReady: 0, fleet.StateMissing: 0}
	for _, m := range s.set.Registry.Members() {
		if m.ID == self.ID {
			continue // a collector reporting to itself is shown once
		}
		members = append(members, m)
		counts[m.State]++
	}
	counts[state]++
	return fleet.View{GeneratedAt: now, StaleAfterSeconds: s.set.StaleAfter.Seconds(), Counts: counts, Members: members}
}

func (s *Server) opampStatus() any {
	if s.set.OpAMPStatus == nil {
		return nil
	}
	return s.set.OpAMPStatus()
}

func (s *Server) fleetView(w http.ResponseWriter, r *http.Request) {
	if wantsHTML(r.Header.Get("Accept")) {
		s.fleetPage(w, r)
		return
	}
	body := s.snapshots.get(s.render)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body.json)
}

func (s *Server) fleetPage(w http.ResponseWriter, _ *http.Request) {
	body := s.snapshots.get(s.render)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page loads nothing from elsewhere; forbid it so it stays that way.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	_, _ = w.Write(body.html)
}

// render renders the view once as JSON and as the page.
func (s *Server) render() *snapshot {
	v := s.view()
	return &snapshot{json: s.renderJSON(v), html: s.renderPage(v)}
}

func (s *Server) renderJSON(v fleet.View) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.telemetry.Logger.Debug("Fleet view not rendered.", zap.Error(err))
		return []byte("{}")
	}
	return append(b, '\n')
}

func (s *Server) renderPage(v fleet.View) []byte {
	var buf bytes.Buffer
	if err := fleet.RenderPage(&buf, v); err != nil {
		s.telemetry.Logger.Debug("Fleet page not rendered.", zap.Error(err))
	}
	return buf.Bytes()
}

// wantsHTML is true for browsers: text/html accepted and JSON not asked for first.
func wantsHTML(accept string) bool {
	html := strings.Index(accept, "text/html")
	js := strings.Index(accept, "application/json")
	return html >= 0 && (js < 0 || html < js)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
