package fleethealthextension

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
	fhhttp "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/http"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"
	"github.com/otelcol-fleet/otelcol-fleet/internal/hostname"
)

var (
	_ extension.Extension                          = (*fleetHealth)(nil)
	_ componentstatus.Watcher                      = (*fleetHealth)(nil)
	_ extensioncapabilities.ComponentStatusWatcher = (*fleetHealth)(nil)
	_ extensioncapabilities.PipelineWatcher        = (*fleetHealth)(nil)
	_ extensioncapabilities.ConfigSnapshotWatcher  = (*fleetHealth)(nil)
)

// maxCheckTimeout bounds one read of the telemetry and one push to the fleet collector.
const maxCheckTimeout = 5 * time.Second

type fleetHealth struct {
	cfg       *Config
	set       extension.Settings
	logger    *zap.Logger
	now       func() time.Time
	id        string
	evaluator *health.Evaluator
	registry  *fleet.Registry
	telemetry *fleetTelemetry
	pusher    *fleet.Pusher
	client    *http.Client
	server    *fhhttp.Server

	// source, when set (tests), replaces the scrape of the collector's telemetry.
	source signals.Source

	mu           sync.Mutex
	telemetryURL string
	lastReady    bool
	lastReadErr  bool
	lastPushErr  bool

	checkNow     chan struct{}
	stop         chan struct{}
	loopDone     sync.WaitGroup
	shutdownOnce sync.Once
}

func newFleetHealth(cfg *Config, set extension.Settings, now func() time.Time) (*fleetHealth, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	timeout := min(cfg.CheckInterval, maxCheckTimeout)
	fh := &fleetHealth{
		cfg:       cfg,
		set:       set,
		logger:    set.Logger,
		now:       now,
		id:        memberID(cfg.Fleet.ID),
		evaluator: health.NewEvaluator(cfg.Thresholds.health(), cfg.RecoveryDuration, now),
		registry:  fleet.NewRegistry(cfg.Fleet.StaleAfter, cfg.Fleet.ForgetAfter, cfg.Fleet.MaxMembers, now),
		client:    &http.Client{Timeout: timeout},
		telemetryURL: func() string {
			if cfg.TelemetryEndpoint != "" {
				return cfg.TelemetryEndpoint
			}
			return defaultTelemetryEndpoint
		}(),
		lastReady: true,
		checkNow:  make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if cfg.Fleet.ReportTo != "" {
		u, err := fleet.ReportURL(cfg.Fleet.ReportTo)
		if err != nil {
			return nil, err
		}
		fh.pusher = &fleet.Pusher{URL: u, Client: fh.client}
	}
	fh.telemetry, err = newFleetTelemetry(tb, set.ID.String(),
		func() bool { return fh.evaluator.Report().Ready },
		func() map[string]float64 { return fh.evaluator.Report().Utilization },
		fh.registry.Counts)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	fh.server = fhhttp.NewServer(cfg.ServerConfig, set.TelemetrySettings, fhhttp.Settings{
		Report:            fh.evaluator.Report,
		Self:              fh.selfReport,
		TelemetryEndpoint: fh.telemetryEndpoint,
		ReportTo:          cfg.Fleet.ReportTo,
		Registry:          fh.registry,
		StaleAfter:        cfg.Fleet.StaleAfter,
		ReportDropped:     fh.telemetry.reportDropped,
		Now:               now,
	})
	return fh, nil
}

// memberID is fleet.id, else the name every component of the distribution gives the collector by
// default ($HOSTNAME, else the host name).
func memberID(configured string) string {
	if configured != "" {
		return configured
	}
	if h, err := hostname.Get(); err == nil {
		return h
	}
	return "unknown"
}

// Start serves the endpoints and starts checking.
func (fh *fleetHealth) Start(ctx context.Context, host component.Host) error {
	fh.logger.Info("Fleet health extension starting.",
		zap.String("endpoint", fh.cfg.NetAddr.Endpoint),
		zap.Duration("check_interval", fh.cfg.CheckInterval),
		zap.Any("thresholds", fh.cfg.Thresholds),
		zap.Duration("recovery_duration", fh.cfg.RecoveryDuration),
		zap.String("fleet_id", fh.id),
		zap.String("report_to", fh.cfg.Fleet.ReportTo))
	fh.evaluator.SetMemoryLimit(signals.ResolveMemoryLimit(nil, os.DirFS("/")))

	if err := fh.server.Start(ctx, host); err != nil {
		return err
	}

	fh.loopDone.Add(1)
	go fh.loop()
	return nil
}

// loop checks every check_interval, and at once when the pipelines become ready. There is no
// check at Start: nothing flows before the pipelines run, and a reading taken just before the
// one at Ready would make the first ratios cover a few milliseconds.
func (fh *fleetHealth) loop() {
	defer fh.loopDone.Done()
	ticker := time.NewTicker(fh.cfg.CheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-fh.stop:
			return
		case <-ticker.C:
		case <-fh.checkNow:
		}
		fh.check()
	}
}

// check reads the collector's telemetry, decides readiness, and reports to the fleet.
func (fh *fleetHealth) check() {
	ctx, cancel := context.WithTimeout(context.Background(), min(fh.cfg.CheckInterval, maxCheckTimeout))
	defer cancel()
	go func() {
		// Shutdown must not wait for a slow scrape or push.
		select {
		case <-fh.stop:
			cancel()
		case <-ctx.Done():
		}
	}()

	snap, err := fh.read(ctx)
	if err != nil {
		fh.telemetry.checked(ctx, false)
		fh.evaluator.ReadFailed(err)
	} else {
		fh.telemetry.checked(ctx, true)
		fh.evaluator.Observe(snap)
	}
	report := fh.evaluator.Report()
	fh.logTransitions(report, err)

	if fh.pusher != nil {
		perr := fh.pusher.Push(ctx, fh.selfReport(report))
		if perr != nil {
			fh.telemetry.reportDropped(ctx, fleet.ReasonPushFailed)
		}
		fh.mu.Lock()
		changed := (perr != nil) != fh.lastPushErr
		fh.lastPushErr = perr != nil
		fh.mu.Unlock()
		switch {
		case changed && perr != nil:
			fh.logger.Warn("Fleet status report could not be sent; retrying every check interval.", zap.String("report_to", fh.pusher.URL), zap.Error(perr))
		case changed:
			fh.logger.Info("Fleet status reports are sent again.", zap.String("report_to", fh.pusher.URL))
		}
	}
}

func (fh *fleetHealth) read(ctx context.Context) (signals.Snapshot, error) {
	if fh.source != nil {
		return fh.source.Read(ctx)
	}
	s := &signals.PrometheusScraper{URL: fh.telemetryEndpoint(), Client: fh.client, Now: fh.now}
	return s.Read(ctx)
}

// telemetryEndpoint is where the collector's own telemetry is read from now.
func (fh *fleetHealth) telemetryEndpoint() string {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	return fh.telemetryURL
}

// logTransitions logs readiness and telemetry-read changes once, at Warn when things go wrong.
func (fh *fleetHealth) logTransitions(r health.Report, readErr error) {
	fh.mu.Lock()
	readyChanged := r.Ready != fh.lastReady
	readErrChanged := (readErr != nil) != fh.lastReadErr
	fh.lastReady, fh.lastReadErr = r.Ready, readErr != nil
	fh.mu.Unlock()
	if readyChanged && !r.Ready && r.Verdict == health.VerdictNotReady {
		msgs := make([]string, 0, len(r.Reasons))
		for _, reason := range r.Reasons {
			msgs = append(msgs, reason.Message)
		}
		fh.logger.Warn("Collector is not ready: /readyz answers 503.", zap.Strings("reasons", msgs), zap.Strings("actions", r.Actions))
	} else if readyChanged && r.Ready {
		fh.logger.Warn("Collector is ready again: /readyz answers 200.")
	}
	if readErrChanged && readErr != nil {
		fh.logger.Warn("Cannot read the collector's own telemetry; thresholds are not evaluated until it can.", zap.Error(readErr))
	} else if readErrChanged {
		fh.logger.Info("Reading the collector's own telemetry again.")
	}
}

func (fh *fleetHealth) selfReport(r health.Report) fleet.Report {
	reasons := make([]string, 0, len(r.Reasons))
	for _, reason := range r.Reasons {
		reasons = append(reasons, reason.Message)
	}
	return fleet.Report{
		ID:              fh.id,
		Role:            fh.cfg.Fleet.Role,
		Ready:           r.Ready,
		Verdict:         r.Verdict,
		Reasons:         reasons,
		Signals:         r.Utilization,
		IntervalSeconds: fh.cfg.CheckInterval.Seconds(),
		SentAt:          fh.now(),
	}
}

// Shutdown stops checking and serving. Safe before Start and safe twice.
func (fh *fleetHealth) Shutdown(ctx context.Context) error {
	var err error
	fh.shutdownOnce.Do(func() {
		close(fh.stop)
		fh.loopDone.Wait()
		fh.telemetry.shutdown()
		err = fh.server.Shutdown(ctx)
	})
	return err
}

// Ready implements extensioncapabilities.PipelineWatcher: pipelines run, readiness follows the signals.
func (fh *fleetHealth) Ready() error {
	fh.evaluator.PipelinesReady()
	select {
	case fh.checkNow <- struct{}{}:
	default:
	}
	return nil
}

// NotReady implements extensioncapabilities.PipelineWatcher: the collector is stopping.
func (fh *fleetHealth) NotReady() error {
	fh.evaluator.PipelinesStopping()
	return nil
}

// ComponentStatusChanged implements componentstatus.Watcher. It may be called before Start and
// after Shutdown; the evaluator is ready for that from construction.
func (fh *fleetHealth) ComponentStatusChanged(source *componentstatus.InstanceID, event *componentstatus.Event) {
	fh.evaluator.ComponentChanged(source.ComponentID().String(), strings.ToLower(source.Kind().String()), event)
}

// Changed implements extensioncapabilities.ComponentStatusWatcher, which is what the v0.165
// service calls.
func (fh *fleetHealth) Changed(source *componentstatus.InstanceID, event *componentstatus.Event) {
	fh.ComponentStatusChanged(source, event)
}

// NotifyConfigSnapshot implements extensioncapabilities.ConfigSnapshotWatcher: the effective
// configuration tells where the collector's telemetry is served and what memory_limiter allows.
func (fh *fleetHealth) NotifyConfigSnapshot(_ context.Context, snapshot extensioncapabilities.ConfigSnapshot) error {
	conf := snapshot.Effective()
	if conf == nil {
		return nil
	}
	all := conf.ToStringMap()
	processors, _ := all["processors"].(map[string]any)
	limit := signals.ResolveMemoryLimit(processors, os.DirFS("/"))
	fh.evaluator.SetMemoryLimit(limit)
	if fh.cfg.TelemetryEndpoint == "" {
		if u, ok := signals.TelemetryURL(all); ok {
			fh.mu.Lock()
			fh.telemetryURL = u
			fh.mu.Unlock()
		}
	}
	fh.logger.Info("Fleet health signals located.", zap.String("telemetry_endpoint", fh.telemetryEndpoint()),
		zap.String("memory_limit_source", limit.Source), zap.String("memory_limit", limit.Detail))
	return nil
}
