package walk // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/walk"

import (
	"github.com/otelcol-fleet/otelcol-fleet/internal/logsafe"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
)

// Counts is what one batch refused and folded, by reason, so the instruments are updated once
// per batch and per reason rather than per data point.
type Counts struct {
	RefusedPoints  [guard.NumReasons]int64
	RefusedSamples [guard.NumReasons]int64
	RefusedSeries  [guard.NumReasons]int64
	FoldedPoints   [guard.NumReasons]int64
	FoldedSeries   [guard.NumReasons]int64
}

// Any reports whether anything was refused or folded.
func (c *Counts) Any() bool { return *c != Counts{} }

// maxLoggedNames is how many offending metrics and tenants a log line names.
const maxLoggedNames = 5

// Offenders collects, between two log lines, a sample of what was refused or folded.
type Offenders struct {
	RefusedPoints, FoldedPoints int64
	// Metrics and Tenants are the first few offending metric names and tenants, each cut to
	// logsafe.MaxBytes: they come from the data, and a 19 MB name must not make a 19 MB log line
	// (nor be kept alive until the next one).
	Metrics, Tenants []string
	// Reasons are the reasons seen.
	Reasons map[string]struct{}
}

func newOffenders() Offenders { return Offenders{Reasons: map[string]struct{}{}} }

func (o *Offenders) note(metric, tenant string, r guard.Reason) {
	metric, tenant = logsafe.String(metric), logsafe.String(tenant)
	if len(o.Metrics) < maxLoggedNames && !contains(o.Metrics, metric) {
		o.Metrics = append(o.Metrics, metric)
	}
	if tenant != "" && len(o.Tenants) < maxLoggedNames && !contains(o.Tenants, tenant) {
		o.Tenants = append(o.Tenants, tenant)
	}
	o.Reasons[r.String()] = struct{}{}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TakeOffenders returns the offenders noted since the previous call and starts a new sample.
func (w *Walker) TakeOffenders() Offenders {
	o := w.offenders
	w.offenders = newOffenders()
	return o
}
