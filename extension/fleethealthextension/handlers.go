package fleethealthextension

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
)

// handler routes the endpoints. GET patterns also answer HEAD.
func (fh *fleetHealth) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", fh.livez)
	mux.HandleFunc("GET /livez", fh.livez)
	mux.HandleFunc("GET /readyz", fh.readyz)
	mux.HandleFunc("GET /status", fh.status)
	mux.HandleFunc("GET /fleet", fh.fleetView)
	mux.HandleFunc("GET /fleet.html", fh.fleetPage)
	mux.HandleFunc("POST /fleet", fh.fleetReport)
	return mux
}

type livenessDoc struct {
	Status        string  `json:"status"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// livez answers 200 while the collector runs: never 503 for backpressure, because restarting a
// busy collector loses its queues and makes the pressure worse.
func (fh *fleetHealth) livez(w http.ResponseWriter, _ *http.Request) {
	fh.mu.Lock()
	started := fh.started
	fh.mu.Unlock()
	writeJSON(w, http.StatusOK, livenessDoc{Status: "alive", UptimeSeconds: fh.now().Sub(started).Seconds()})
}

type readinessDoc struct {
	Ready   bool            `json:"ready"`
	Verdict string          `json:"verdict"`
	Reasons []health.Reason `json:"reasons,omitempty"`
	Actions []string        `json:"actions,omitempty"`
}

func (fh *fleetHealth) readyz(w http.ResponseWriter, _ *http.Request) {
	r := fh.evaluator.Report()
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
	ReportTo          string `json:"report_to,omitempty"`
}

func (fh *fleetHealth) status(w http.ResponseWriter, _ *http.Request) {
	fh.mu.Lock()
	u := fh.telemetryURL
	fh.mu.Unlock()
	writeJSON(w, http.StatusOK, statusDoc{ID: fh.id, Role: fh.cfg.Fleet.Role, Report: fh.evaluator.Report(), TelemetryEndpoint: u, ReportTo: fh.cfg.Fleet.ReportTo})
}

// view is the fleet: this collector first, then every member that reports to it.
func (fh *fleetHealth) view() fleet.View {
	now := fh.now()
	self := fh.selfReport(fh.evaluator.Report())
	state := fleet.StateNotReady
	if self.Ready {
		state = fleet.StateReady
	}
	members := []fleet.Member{{Report: self, State: state, LastSeen: now, Self: true}}
	counts := map[string]int{fleet.StateReady: 0, fleet.StateNotReady: 0, fleet.StateMissing: 0}
	for _, m := range fh.registry.Members() {
		if m.ID == fh.id {
			continue // a collector reporting to itself is shown once
		}
		members = append(members, m)
		counts[m.State]++
	}
	counts[state]++
	return fleet.View{GeneratedAt: now, StaleAfterSeconds: fh.cfg.Fleet.StaleAfter.Seconds(), Counts: counts, Members: members}
}

func (fh *fleetHealth) fleetView(w http.ResponseWriter, r *http.Request) {
	if wantsHTML(r.Header.Get("Accept")) {
		fh.fleetPage(w, r)
		return
	}
	writeJSON(w, http.StatusOK, fh.view())
}

func (fh *fleetHealth) fleetPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page loads nothing from elsewhere; forbid it so it stays that way.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	if err := fleet.RenderPage(w, fh.view()); err != nil {
		fh.logger.Debug("Fleet page not written completely.")
	}
}

// wantsHTML is true for browsers: text/html accepted and JSON not asked for first.
func wantsHTML(accept string) bool {
	html := strings.Index(accept, "text/html")
	js := strings.Index(accept, "application/json")
	return html >= 0 && (js < 0 || html < js)
}

type reportAck struct {
	Accepted bool   `json:"accepted"`
	Error    string `json:"error,omitempty"`
}

// fleetReport records a member's pushed status.
func (fh *fleetHealth) fleetReport(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, fleet.MaxReportBytes)
	var rep fleet.Report
	err := json.NewDecoder(r.Body).Decode(&rep)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		fh.dropReport(r, reasonTooLarge)
		writeJSON(w, http.StatusRequestEntityTooLarge, reportAck{Error: err.Error()})
		return
	case err != nil:
		fh.dropReport(r, reasonMalformed)
		writeJSON(w, http.StatusBadRequest, reportAck{Error: err.Error()})
		return
	}
	if err := fh.registry.Record(rep); err != nil {
		if errors.Is(err, fleet.ErrMemberLimit) {
			fh.dropReport(r, reasonMemberLimit)
			writeJSON(w, http.StatusTooManyRequests, reportAck{Error: err.Error()})
			return
		}
		fh.dropReport(r, reasonMalformed)
		writeJSON(w, http.StatusBadRequest, reportAck{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, reportAck{Accepted: true})
}

func (fh *fleetHealth) dropReport(r *http.Request, reason string) {
	fh.telemetry.reportDropped(r.Context(), reason)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
