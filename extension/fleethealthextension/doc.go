// Package fleethealthextension serves liveness that stays calm, readiness that reports
// backpressure (sending queues, memory, refusals, send failures, permanent component errors),
// a status page with the action to take, and a fleet view of the collectors that report to it.
package fleethealthextension // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension"
