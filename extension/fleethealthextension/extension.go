package fleethealthextension

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.opentelemetry.io/collector/pipeline"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
	fhhttp "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/http"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/opampagent"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/opampserver"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"
	"github.com/otelcol-fleet/otelcol-fleet/internal/gcheadroom"
	"github.com/otelcol-fleet/otelcol-fleet/internal/hostname"
	"github.com/otelcol-fleet/otelcol-fleet/internal/startpages"
)

var (
	_ extension.Extension                          = (*fleetHealth)(nil)
	_ componentstatus.Watcher                      = (*fleetHealth)(nil)
	_ extensioncapabilities.ComponentStatusWatcher = (*fleetHealth)(nil)
	_ extensioncapabilities.PipelineWatcher        = (*fleetHealth)(nil)
	_ extensioncapabilities.ConfigSnapshotWatcher  = (*fleetHealth)(nil)
)

// maxCheckTimeout bounds one read of the telemetry.
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
	client    *http.Client
	server    *fhhttp.Server
	// opampServer accepts OpAMP agents (nil without opamp_server); agent reports to an OpAMP
	// server (nil without opamp.endpoint; built at Start, where the auth extension is found).
	opampServer *opampserver.Server
	agent       *opampagent.Agent

	// source, when set (tests), replaces the scrape of the collector's telemetry.
	source signals.Source

	mu           sync.Mutex
	telemetryURL string
	lastReady    bool
	lastReadErr  bool
	// topology is which components each pipeline runs, from status events (the health tree).
	topology map[string]map[string]bool
	// effectiveConfig is the redacted effective configuration (YAML) reported over OpAMP.
	effectiveConfig []byte
	// selfTrend is this collector's own trend on the fleet page, recorded at each check.
	selfTrend fleet.TrendRing

	// releasePages asks the loop to give back the start-up pages (once: releaseOnce).
	releasePages chan struct{}
	releaseOnce  sync.Once
	// gc keeps the heap's headroom from Start to Shutdown (gc_headroom_mib); nil when off.
	gc *gcheadroom.Governor

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
		client:    &http.Client{Timeout: timeout, Transport: selfScrapeTransport()},
		telemetryURL: func() string {
			if cfg.TelemetryEndpoint != "" {
				return cfg.TelemetryEndpoint
			}
			return defaultTelemetryEndpoint
		}(),
		lastReady:    true,
		topology:     map[string]map[string]bool{},
		checkNow:     make(chan struct{}, 1),
		releasePages: make(chan struct{}, 1),
		stop:         make(chan struct{}),
	}
	fh.telemetry, err = newFleetTelemetry(tb, set.ID.String(),
		func() bool { return fh.evaluator.Report().Ready },
		func() map[string]float64 { return fh.evaluator.Report().Utilization },
		fh.registry.Counts)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	if cfg.OpAMPServer.HasValue() {
		sc := cfg.OpAMPServer.Get()
		fh.opampServer = opampserver.New(sc.ServerConfig, set.TelemetrySettings, opampserver.Settings{
			Registry:        fh.registry,
			MaxConnections:  cfg.Fleet.MaxMembers + connectionHeadroom,
			MaxMessageBytes: messageLimit(sc.MaxRequestBodySize),
			Dropped:         fh.telemetry.reportDropped,
		})
	}
	fh.server = fhhttp.NewServer(cfg.ServerConfig, set.TelemetrySettings, fhhttp.Settings{
		Report:            fh.evaluator.Report,
		Running:           fh.evaluator.Running,
		Self:              fh.selfReport,
		SelfTrend:         fh.selfTrendSnapshot,
		TelemetryEndpoint: fh.telemetryEndpoint,
		OpAMPStatus:       fh.opampStatus,
		Registry:          fh.registry,
		StaleAfter:        cfg.Fleet.StaleAfter,
		Now:               now,
		ViewTTL:           fleetViewTTL,
	})
	return fh, nil
}

// messageLimit is max_request_body_size, or the OpAMP default when it is 0.
func messageLimit(configured int64) int64 {
	if configured > 0 {
		return configured
	}
	return defaultOpAMPMaxMessageBytes
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
		zap.String("opamp_endpoint", opampagent.SafeURL(fh.cfg.OpAMP.Endpoint)),
		zap.Bool("release_startup_pages", fh.cfg.ReleaseStartupPages),
		zap.Uint32("gc_headroom_mib", fh.cfg.GCHeadroomMiB))
	fh.evaluator.SetMemoryLimit(signals.ResolveMemoryLimit(nil, os.DirFS("/")))

	if err := fh.server.Start(ctx, host); err != nil {
		return err
	}
	if fh.opampServer != nil {
		if err := fh.opampServer.Start(ctx, host); err != nil {
			return errors.Join(err, fh.server.Shutdown(ctx))
		}
	}
	if fh.cfg.OpAMP.Endpoint != "" {
		agent, err := fh.newAgent(ctx, host)
		if err == nil {
			err = agent.Start(ctx)
		}
		if err != nil {
			return errors.Join(fmt.Errorf("fleet_health: OpAMP agent: %w", err), fh.shutdownServers(ctx))
		}
		fh.mu.Lock()
		fh.agent = agent
		fh.mu.Unlock()
	}

	// Last, once nothing above can fail: a Start that fails leaves the GC as it found it.
	fh.startGCHeadroom()
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
		case <-fh.releasePages:
			fh.releaseOnce.Do(fh.releaseStartupPages)
			continue
		}
		if fh.gc != nil {
			// A load that stopped gives back its GC headroom now, not at the next
			// collection, which at rest may be minutes away.
			fh.gc.Recheck()
		}
		fh.check()
	}
}

// selfScrapeTransport is the transport of the check's scrape of the collector's own /metrics:
// DefaultTransport's settings without gzip. The page comes over loopback, and compressing it
// in the collector only to decompress it in the same process added a tenth to a third to the
// scrape's CPU (measured 2026-12-05: 0.93–1.03 ms a scrape of a 6 KB page plain, 0.99–1.32 ms
// gzipped, before the gunzip on this side).
func selfScrapeTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	return t
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
	fh.mu.Lock()
	fh.selfTrend.Add(fh.now(), report.Utilization)
	fh.mu.Unlock()

	fh.reportOpAMP(report, true)
}

func (fh *fleetHealth) read(ctx context.Context) (signals.Snapshot, error) {
	if fh.source != nil {
		return fh.source.Read(ctx)
	}
	s := &signals.PrometheusScraper{URL: fh.telemetryEndpoint(), Client: fh.client, Now: fh.now}
	return s.Read(ctx)
}

func (fh *fleetHealth) selfTrendSnapshot() *fleet.Trend {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	return fh.selfTrend.Snapshot()
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
	var lag *float64
	for _, e := range r.Exporters {
		if e.SendLagSeconds != nil && (lag == nil || *e.SendLagSeconds > *lag) {
			lag = e.SendLagSeconds
		}
	}
	return fleet.Report{
		ID:              fh.id,
		Role:            fh.cfg.Fleet.Role,
		Agent:           strings.TrimSpace(fh.set.BuildInfo.Command + " " + fh.set.BuildInfo.Version),
		Ready:           r.Ready,
		Verdict:         r.Verdict,
		Reasons:         reasons,
		Signals:         r.Utilization,
		SendLagSeconds:  lag,
		IntervalSeconds: fh.cfg.CheckInterval.Seconds(),
	}
}

// Shutdown stops checking and serving. Safe before Start and safe twice.
func (fh *fleetHealth) Shutdown(ctx context.Context) error {
	var err error
	fh.shutdownOnce.Do(func() {
		close(fh.stop)
		fh.loopDone.Wait()
		fh.mu.Lock()
		agent := fh.agent
		fh.agent = nil
		fh.mu.Unlock()
		if agent != nil {
			// Bounded: a server that does not answer must not hold the collector's shutdown.
			actx, cancel := context.WithTimeout(ctx, agentStopTimeout)
			err = agent.Shutdown(actx)
			cancel()
		}
		fh.telemetry.shutdown()
		fh.client.CloseIdleConnections()
		if fh.gc != nil {
			fh.gc.Stop()
		}
		err = errors.Join(err, fh.shutdownServers(ctx))
	})
	return err
}

// fleetViewTTL is how long one rendering of /fleet is served (0: internal/http's 1 s); the
// package's tests shorten it so they need not wait for the next rendering.
var fleetViewTTL time.Duration

// agentStopTimeout bounds saying goodbye to the OpAMP server at shutdown.
const agentStopTimeout = 2 * time.Second

func (fh *fleetHealth) shutdownServers(ctx context.Context) error {
	var err error
	if fh.opampServer != nil {
		err = fh.opampServer.Shutdown(ctx)
	}
	return errors.Join(err, fh.server.Shutdown(ctx))
}

// Ready implements extensioncapabilities.PipelineWatcher: pipelines run, readiness follows the signals.
func (fh *fleetHealth) Ready() error {
	fh.evaluator.PipelinesReady()
	select {
	case fh.checkNow <- struct{}{}:
	default:
	}
	if fh.cfg.ReleaseStartupPages {
		select {
		case fh.releasePages <- struct{}{}:
		default:
		}
	}
	return nil
}

// releaseStartupPages gives back the binary's pages after the first Ready: every component has
// started by then, so what the start alone touched (package inits, config, Start) is done with.
// The loop runs it, not Ready: the service installs its SIGTERM handler only once Ready
// returned, and a SIGTERM before that kills the process without a graceful shutdown, so Ready
// must not take the tens of milliseconds this takes.
func (fh *fleetHealth) releaseStartupPages() {
	released, err := startpages.Release()
	switch {
	case errors.Is(err, startpages.ErrUnsupported):
		fh.logger.Debug("The binary's start-up pages stay resident.", zap.Error(err))
	case err != nil:
		fh.logger.Warn("Could not give back all of the binary's start-up pages.", zap.Error(err),
			zap.Int64("resident_bytes_before", released.Before), zap.Int64("resident_bytes_after", released.After))
	default:
		fh.logger.Info("Gave back the binary's pages that only the start touched.",
			zap.Int64("resident_bytes_before", released.Before), zap.Int64("resident_bytes_after", released.After))
	}
}

// startGCHeadroom keeps the Go heap's headroom at a second's allocation, up to gc_headroom_mib,
// until Shutdown (internal/gcheadroom says why). Where it cannot, the GC is left as it is, and
// the log says why: that is a choice the operator made (GOGC), or another fleet_health does it.
func (fh *fleetHealth) startGCHeadroom() {
	if fh.cfg.GCHeadroomMiB == 0 {
		return
	}
	g, err := gcheadroom.Start(uint64(fh.cfg.GCHeadroomMiB)<<20, func(c gcheadroom.Change) {
		fh.logger.Debug("Set the garbage collector's GOGC for the allocation rate.",
			zap.Int("from", c.From), zap.Int("to", c.To),
			zap.Uint64("live_heap_bytes", c.Live), zap.Uint64("allocated_bytes_per_second", c.Rate))
	})
	if err != nil {
		fh.logger.Info("The garbage collector's headroom is left to GOGC.", zap.Error(err))
		return
	}
	fh.gc = g
	fh.logger.Info("Keeping the garbage collector's headroom at a second's allocation while busy.",
		zap.Uint32("gc_headroom_mib", fh.cfg.GCHeadroomMiB), zap.Int("gogc_at_rest", g.Base()))
}

// NotReady implements extensioncapabilities.PipelineWatcher: the collector is stopping.
func (fh *fleetHealth) NotReady() error {
	fh.evaluator.PipelinesStopping()
	fh.reportOpAMP(fh.evaluator.Report(), false)
	return nil
}

// ComponentStatusChanged implements componentstatus.Watcher. It may be called before Start and
// after Shutdown; the evaluator is ready for that from construction.
func (fh *fleetHealth) ComponentStatusChanged(source *componentstatus.InstanceID, event *componentstatus.Event) {
	kind := strings.ToLower(source.Kind().String())
	fh.evaluator.ComponentChanged(source.ComponentID().String(), kind, event)
	key := opampagent.ComponentKey(kind, source.ComponentID().String())
	fh.mu.Lock()
	source.AllPipelineIDs(func(p pipeline.ID) bool {
		if fh.topology[p.String()] == nil {
			fh.topology[p.String()] = map[string]bool{}
		}
		fh.topology[p.String()][key] = true
		return true
	})
	fh.mu.Unlock()
	// A component's error changes the health tree: tell the OpAMP server now, not at the next check.
	if event.Status() == componentstatus.StatusPermanentError || event.Status() == componentstatus.StatusFatalError {
		fh.reportOpAMP(fh.evaluator.Report(), false)
	}
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
	redacted, err := yaml.Marshal(opampagent.Redact(all))
	if err == nil {
		fh.mu.Lock()
		fh.effectiveConfig = redacted
		agent := fh.agent
		fh.mu.Unlock()
		if agent != nil {
			agent.SetEffectiveConfig(redacted)
		}
	}
	fh.logger.Info("Fleet health signals located.", zap.String("telemetry_endpoint", fh.telemetryEndpoint()),
		zap.String("memory_limit_source", limit.Source), zap.String("memory_limit", limit.Detail))
	return nil
}
