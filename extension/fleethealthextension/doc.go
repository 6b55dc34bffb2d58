// Package fleethealthextension serves liveness that stays calm, readiness that reports
// backpressure (sending queues, memory, refusals, send failures, send lag, permanent component
// errors), a status page with the action to take, and a fleet view of the collectors that report
// to it.
//
// The root holds the configuration, the factory, the extension's lifecycle (the check loop, the
// component-status and pipeline watchers) and its self-telemetry. The work is in internal/:
//   - signals reads the collector's own Prometheus telemetry and the memory limit it runs under;
//   - health judges each signal against its threshold and combines them into the verdict;
//   - fleet keeps the members that report here, pushes this collector's report, renders the page;
//   - http serves the endpoints.
package fleethealthextension // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension"
