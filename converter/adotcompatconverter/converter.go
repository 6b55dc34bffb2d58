package adotcompatconverter

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
)

// finding is what one rule says about a config: a rewrite it made, or a hint where it could not
// preserve the meaning and left the config for `validate` to reject.
type finding struct {
	// origin says whose setting it is: originADOT (empty) or originDeprecated.
	origin  string
	rewrote bool
	oldKey  string
	newKey  string
	// line is the configuration to write instead, in YAML.
	line string
	// why explains a hint (empty for a rewrite).
	why string
}

// Origins of a finding, as the warning's prefix says them.
const (
	originADOT       = "ADOT compatibility"
	originDeprecated = "deprecated setting"
)

func (f finding) prefix() string {
	if f.origin == "" {
		return originADOT
	}
	return f.origin
}

// Message is the warning text, one sentence with what to change.
func (f finding) Message() string {
	if f.rewrote {
		return fmt.Sprintf("retired setting %q rewritten to %q; put this in the config instead: %s", f.oldKey, f.newKey, f.line)
	}
	return fmt.Sprintf("retired setting %q left as is (%s), so the config will not load; replace it with %q: %s", f.oldKey, f.why, f.newKey, f.line)
}

type converter struct {
	logger *zap.Logger
	report func([]finding)
}

// rules run in order: awsprometheusremotewrite first, since it may carry a sending_queue that the
// remote-write rule then rewrites.
var rules = []func(*confmap.Conf) ([]finding, error){
	rewriteTelemetryAddress,
	rewriteLoggingExporter,
	rewriteDebugLoglevel,
	rewriteBallastSize,
	rewriteMemoryBallast,
	rewriteAWSPrometheusRemoteWrite,
	rewriteRemoteWriteSendingQueue,
}

func (c *converter) Convert(_ context.Context, conf *confmap.Conf) error {
	// Our own components' deprecated keys are rewritten whatever the gate says: turning off ADOT
	// compatibility must not break a config that uses a key we renamed.
	all, err := rewriteRenamedKeys(conf)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if !Gate.IsEnabled() {
		if len(all) > 0 {
			c.report(all)
		}
		return nil
	}
	for _, rule := range rules {
		found, err := rule(conf)
		if err != nil {
			return fmt.Errorf("adot-compat converter: %w (turn it off with --feature-gates=-%s)", err, gateID)
		}
		all = append(all, found...)
	}
	if len(all) > 0 {
		c.report(all)
	}
	return nil
}

// defaultReporter logs each finding as a warning. `otelcol-fleet validate` sets up no logger (the
// collector buffers start-up logs and only flushes them when it runs), so there the warnings go
// to stderr directly: validate must report what run would.
func defaultReporter(logger *zap.Logger) func([]finding) {
	return func(fs []finding) {
		if isValidateCommand(os.Args) {
			writeFindings(os.Stderr, fs)
			return
		}
		for _, f := range fs {
			logger.Warn(f.prefix()+": "+f.Message(),
				zap.String("old_key", f.oldKey), zap.String("new_key", f.newKey), zap.Bool("rewritten", f.rewrote))
		}
	}
}

func writeFindings(w io.Writer, fs []finding) {
	for _, f := range fs {
		fmt.Fprintf(w, "warning: %s: %s\n", f.prefix(), f.Message())
	}
}

// isValidateCommand reports whether the collector was started with the `validate` subcommand.
// (A config file literally named "validate" would also match; it only moves warnings to stderr.)
func isValidateCommand(args []string) bool {
	return slices.Contains(args[min(1, len(args)):], "validate")
}
