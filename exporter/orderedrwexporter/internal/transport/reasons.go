package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"net/http"
	"strings"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

// answer is what the sender does with a status other than 2xx.
type answer int

const (
	// answerRetry: the same request may succeed later (429, 5xx): retried with backoff.
	answerRetry answer = iota
	// answerSplit: the backend named a sample it rejected; without it the rest succeeds, so the
	// request is split until the rejected sample stands alone.
	answerSplit
	// answerDrop: any other 4xx; remote write 1.0 says it MUST NOT be retried, and nothing in
	// the answer says a part of the request would fare better, so it is dropped whole.
	answerDrop
)

// sampleRejections are the substrings (lower case) by which Prometheus, Mimir/Cortex, Thanos and
// Amazon Managed Service for Prometheus name a sample or series they rejected for its content. The
// README's rejection table gives each message with its source. Checked in order.
var sampleRejections = []struct{ substring, reason string }{
	// Prometheus TSDB (storage/interface.go): "out of order sample"; Mimir: "(err-mimir-sample-out-of-order)".
	{"out of order sample", telemetry.ReasonOutOfOrder},
	{"err-mimir-sample-out-of-order", telemetry.ReasonOutOfOrder},
	{"out-of-order sample", telemetry.ReasonOutOfOrder},
	// Prometheus: "duplicate sample for timestamp"; Mimir: "(err-mimir-sample-duplicate-timestamp)".
	{"duplicate sample for timestamp", telemetry.ReasonDuplicate},
	// AMP's user guide (AMP-troubleshooting, "I see errors about sample timestamps") names this
	// one besides the two above; no body with it was seen.
	{"different value but same timestamp", telemetry.ReasonDuplicate},
	{"err-mimir-sample-duplicate-timestamp", telemetry.ReasonDuplicate},
	// Prometheus: "too old sample", "out of bounds" (also "out of bounds: timestamp is too far in
	// the future"); Mimir: err-mimir-sample-timestamp-too-old, err-mimir-too-far-in-future,
	// err-mimir-too-far-in-past.
	{"too old sample", telemetry.ReasonTooOld},
	{"out of bounds", telemetry.ReasonTooOld},
	{"err-mimir-sample-timestamp-too-old", telemetry.ReasonTooOld},
	{"err-mimir-too-far-in-future", telemetry.ReasonTooOld},
	{"err-mimir-too-far-in-past", telemetry.ReasonTooOld},
	// Cortex (AMP's base), pkg/util/validation/errors.go: "timestamp too old: %d metric: %.200q",
	// "timestamp too new: %d metric: %.200q".
	{"timestamp too old", telemetry.ReasonTooOld},
	{"timestamp too new", telemetry.ReasonTooOld},
	// Invalid series: Prometheus "invalid metric name or labels", "invalid labels for series";
	// Mimir's per-series validation errors (IDs of pkg/util/globalerror/user.go).
	{"invalid metric name", telemetry.ReasonInvalid},
	{"invalid labels", telemetry.ReasonInvalid},
	// Cortex's per-series validation (pkg/util/validation/errors.go), which AMP's user guide
	// quotes ("series has too many labels (...) series: '%s'"): each names the series.
	{"series has too many labels", telemetry.ReasonInvalid},
	{"label name too long", telemetry.ReasonInvalid},
	{"label value too long", telemetry.ReasonInvalid},
	{"sample invalid label", telemetry.ReasonInvalid},
	{"duplicate label name", telemetry.ReasonInvalid},
	{"labels not sorted", telemetry.ReasonInvalid},
	{"sample missing metric name", telemetry.ReasonInvalid},
	{"err-mimir-label-invalid", telemetry.ReasonInvalid},
	{"err-mimir-label-value-invalid", telemetry.ReasonInvalid},
	{"err-mimir-missing-metric-name", telemetry.ReasonInvalid},
	{"err-mimir-metric-name-invalid", telemetry.ReasonInvalid},
	{"err-mimir-max-label-names-per-series", telemetry.ReasonInvalid},
	{"err-mimir-label-name-too-long", telemetry.ReasonInvalid},
	{"err-mimir-label-value-too-long", telemetry.ReasonInvalid},
	{"err-mimir-duplicate-label-names", telemetry.ReasonInvalid},
	{"err-mimir-labels-not-sorted", telemetry.ReasonInvalid},
	{"err-mimir-native-histogram-", telemetry.ReasonInvalid},
	{"err-mimir-max-native-histogram-buckets", telemetry.ReasonInvalid},
	{"err-mimir-invalid-native-histogram-schema", telemetry.ReasonInvalid},
	{"err-mimir-not-reducible-native-histogram", telemetry.ReasonInvalid},
}

// classify tells what to do with an answer of status and body, and the reason its samples are
// counted under when they are dropped. Only a 400, 409 (Thanos) or 422 is read for a named sample:
// a 401, 403 or 404 is about the request, whatever its body says.
//
// A quota answer is checked first: AMP's and Cortex's "per-user series limit of N exceeded" names
// no sample, and every half of the request would be refused again (measured: one 2,000-sample
// request became 3,995). A 413 is a limit too: the backend refuses the request's size, and
// remote write 1.0 forbids resending on any 4xx but 429.
func classify(status int, body string) (answer, string) {
	if status == http.StatusTooManyRequests || status >= 500 {
		return answerRetry, ""
	}
	b := strings.ToLower(body)
	if status == http.StatusRequestEntityTooLarge || isLimit(b) {
		return answerDrop, telemetry.ReasonLimits
	}
	if status == http.StatusBadRequest || status == http.StatusConflict || status == http.StatusUnprocessableEntity {
		for _, r := range sampleRejections {
			if strings.Contains(b, r.substring) {
				return answerSplit, r.reason
			}
		}
	}
	if status == http.StatusConflict {
		// Thanos receive (pkg/receive/handler.go) answers 409 only for its errConflict: samples
		// out of order, duplicate or out of bounds, which its body may not spell out.
		return answerSplit, telemetry.ReasonConflict
	}
	return answerDrop, telemetry.ReasonRejected
}

// isLimit recognises a per-tenant quota: "per-user series limit of 1000 exceeded" (AMP, Cortex,
// Mimir with "(err-mimir-max-series-per-user)"), "per-metric series limit", Mimir's
// err-mimir-max-series-per-user / -per-metric, -max-active-series, -ingester-max-series, and the
// "limit ... exceeded" wording in general.
func isLimit(body string) bool {
	return strings.Contains(body, "err-mimir-max-series-per") ||
		strings.Contains(body, "err-mimir-max-active-series") ||
		strings.Contains(body, "err-mimir-ingester-max-series") ||
		strings.Contains(body, "limit") && strings.Contains(body, "exceeded")
}
