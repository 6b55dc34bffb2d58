package orderedrwexporter // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter"

import (
	"errors"
	"fmt"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"
)

// Ordering modes. Every mode keeps each series in order inside the collector (one shard, one
// request in flight per series, the stale filter, the split of a rejected request); the mode names
// what is added on top: holding samples until their timestamp plus the window, a label per
// gateway, both, or none of the two.
const (
	// ModeNone adds neither: samples go to the shards as they are pushed, with no added latency,
	// for stores that accept samples out of order within a window.
	ModeNone             = "none"
	ModeHoldback         = "holdback"
	ModeStamp            = "stamp"
	ModeHoldbackAndStamp = "holdback_and_stamp"
)

// Config is the configuration of the prometheus_remote_write exporter, every key with the same
// meaning, plus the `ordering` block.
type Config struct {
	prometheusremotewriteexporter.Config `mapstructure:",squash"`

	// Ordering configures how samples are kept in order per series.
	Ordering OrderingConfig `mapstructure:"ordering"`

	// Shards are `remote_write_queue.min_shards` and `remote_write_queue.max_shards`. They are
	// keys of upstream's remote_write_queue block, whose struct is not ours to extend: Unmarshal
	// takes them out of that block, and the root's Validate checks them, as it checks `wal`.
	Shards ShardsConfig `mapstructure:"-"`
}

// ShardsConfig bounds the number of series shards, each sending one request at a time: the
// exporter starts with MinShards and reshards with the load, as Prometheus' queue manager does.
type ShardsConfig struct {
	// MinShards is the number of shards to start with and the fewest to run; default 1, so that a
	// small push is one request. Must be positive.
	MinShards int `mapstructure:"min_shards"`
	// MaxShards is the most shards, so the most parallel requests: what upstream's
	// `remote_write_queue.num_consumers` means, whose value it takes unless set (or
	// `max_batch_request_parallelism`'s, when that is set, as upstream). Must be at least
	// MinShards; set together with either upstream key, they must agree.
	MaxShards int `mapstructure:"max_shards"`
}

// defaultMinShards: start with one shard, as Prometheus does, so that a small push is one request.
const defaultMinShards = 1

// OrderingConfig selects and tunes the ordering mode.
type OrderingConfig struct {
	// Mode is holdback (default), stamp, holdback_and_stamp or none.
	Mode string `mapstructure:"mode"`
	// Stamp is used by the stamp modes.
	Stamp StampConfig `mapstructure:"stamp"`
	// Holdback is used by the holdback modes.
	Holdback HoldbackConfig `mapstructure:"holdback"`

	// IdleTimeout is how long the state of a series (its last sent timestamp) is kept after its
	// last sample; idle series are swept on a timer. Must be positive.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxTrackedSeries bounds the series whose state is kept; the samples of a new series beyond
	// it are dropped and counted `max_tracked_series`. Must be positive.
	MaxTrackedSeries int `mapstructure:"max_tracked_series"`
	// MaxBufferedBytes bounds the estimated bytes of the samples queued on the shards and held
	// back; a push that would pass it is refused with a retryable error, so that receivers push
	// back to their clients. 0 (default) derives it: a quarter of the memory the collector runs
	// under (GOMEMLIMIT when set, else the cgroup memory limit, else the host's memory). Must not
	// be negative.
	MaxBufferedBytes int64 `mapstructure:"max_buffered_bytes"`
	// ShutdownTimeout bounds a shutdown. Without a WAL, held samples are released on schedule and
	// failed requests retried (429, 5xx) until it passes, and what is left is counted dropped with
	// reason shutdown; with one, it bounds the last requests, and what is left stays in the log.
	// Must be positive, and above `ordering.holdback.window` in the hold-back modes without WAL.
	// The default, 20 s, is above the default window (5 s) and under Kubernetes' 30 s grace.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
}

// Defaults of the per-series state: the idle timeout the exporter always had, and a cap that
// bounds that state to about 0.35-0.46 GB (340-460 B a series, measured in issue 18 and facts.md).
const (
	defaultIdleTimeout      = 15 * time.Minute
	defaultMaxTrackedSeries = 1_000_000
)

// StampConfig is the label each gateway adds to every series it writes.
type StampConfig struct {
	// Label is the label name; default collector_gateway.
	Label string `mapstructure:"label"`
	// Value is the label value; empty means the host name, resolved when the exporter starts.
	Value string `mapstructure:"value"`
}

// HoldbackConfig bounds the event-time hold-back.
type HoldbackConfig struct {
	// Window is how late a sample may arrive and still be put in order; must be positive.
	Window time.Duration `mapstructure:"window"`
	// MaxHeldSamples bounds the samples held; at the bound the oldest are released early.
	MaxHeldSamples int `mapstructure:"max_held_samples"`
	// MaxFuture bounds how far ahead of the collector's clock a sample's timestamp may be; a
	// sample further ahead is dropped and counted `too_far_in_future` instead of held until its
	// timestamp plus the window. Must be positive; default defaultMaxFuture.
	MaxFuture time.Duration `mapstructure:"max_future"`
}

// defaultMaxFuture is the default `ordering.holdback.max_future`: 12 default windows, so that a
// client clock a little fast is not dropped, while a held sample leaves within a minute plus the
// window.
const defaultMaxFuture = time.Minute

var _ component.Config = (*Config)(nil)

const (
	orderingKey  = "ordering"
	queueKey     = "remote_write_queue"
	minShardsKey = "min_shards"
	maxShardsKey = "max_shards"
	parallelism  = "max_batch_request_parallelism"
	numConsumers = "num_consumers"
)

// Unmarshal decodes the `ordering` block here and hands every other key to the upstream
// exporter's Unmarshal, which gives the http block precedence and ties the two timeouts together.
// It must be defined: the embedded Unmarshal would otherwise be promoted and reject `ordering`.
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if conf.IsSet(orderingKey) {
		sub, err := conf.Sub(orderingKey)
		if err != nil {
			return err
		}
		if err := sub.Unmarshal(&cfg.Ordering); err != nil {
			return fmt.Errorf("ordering: %w", err)
		}
	}
	rest := conf.ToStringMap()
	delete(rest, orderingKey)
	maxShardsSet, err := cfg.unmarshalShards(rest)
	if err != nil {
		return err
	}
	// Through Conf.Unmarshal, not by calling cfg.Config.Unmarshal: confmap then calls it exactly
	// once, as it does for the upstream exporter; calling it directly runs its http precedence
	// logic twice and loses the client settings.
	if err := confmap.NewFromStringMap(rest).Unmarshal(&cfg.Config); err != nil {
		return err
	}
	// max_shards and upstream's name for it follow each other when only one is set; set both,
	// they must agree (Validate).
	upstreamSet := conf.IsSet(queueKey+confmap.KeyDelimiter+numConsumers) || conf.IsSet(parallelism)
	switch {
	case !maxShardsSet:
		cfg.Shards.MaxShards = cfg.upstreamMaxShards()
	case !upstreamSet:
		cfg.RemoteWriteQueue.NumConsumers = cfg.Shards.MaxShards
	}
	return nil
}

// unmarshalShards decodes min_shards and max_shards and takes them out of the remote_write_queue
// block of rest, which upstream would refuse them in. It reports whether max_shards is set.
func (cfg *Config) unmarshalShards(rest map[string]any) (maxShardsSet bool, err error) {
	queue, ok := rest[queueKey].(map[string]any)
	if !ok {
		return false, nil
	}
	shards := map[string]any{}
	for _, k := range []string{minShardsKey, maxShardsKey} {
		if v, ok := queue[k]; ok {
			shards[k] = v
			delete(queue, k)
		}
	}
	if err := confmap.NewFromStringMap(shards).Unmarshal(&cfg.Shards); err != nil {
		return false, fmt.Errorf("%s: %w", queueKey, err)
	}
	_, maxShardsSet = shards[maxShardsKey]
	return maxShardsSet, nil
}

// upstreamMaxShards is the most parallel requests the upstream keys ask for: num_consumers, or
// max_batch_request_parallelism when set, which upstream gives precedence.
func (cfg *Config) upstreamMaxShards() int {
	if cfg.MaxBatchRequestParallelism != nil {
		return *cfg.MaxBatchRequestParallelism
	}
	return cfg.RemoteWriteQueue.NumConsumers
}

var (
	errSendMetadata  = errors.New("`send_metadata: true` is not supported by ordered_rw, found true: metric metadata is not sent; remove it")
	errQueueDisabled = errors.New("`remote_write_queue.enabled` must be true for ordered_rw, found false: " +
		"its per-shard queues are how it keeps each series in order (and hold-back cannot send synchronously); " +
		"remove the key, and bound what is queued with `remote_write_queue.queue_size`")
)

// upstreamWALBufferSize is the upstream exporter's default `wal.buffer_size`: setting it says no
// more than leaving it out.
const upstreamWALBufferSize = 300

// Validate checks the ordered_rw rules on the upstream keys. The settings of the upstream exporter
// are checked by its own Validate, which the collector calls on the embedded config as it walks
// the structure; calling it here too would report each of its errors twice. The `ordering` block
// validates itself, block by block, in the same walk.
func (cfg *Config) Validate() error {
	if cfg.WAL.HasValue() {
		// The upstream WALConfig has no Validate of its own, and the type is not ours to add one.
		if err := validateWAL(cfg.WAL.Get()); err != nil {
			return err
		}
	}
	if !cfg.RemoteWriteQueue.Enabled {
		return errQueueDisabled
	}
	if err := cfg.validateShards(); err != nil {
		return err
	}
	if err := cfg.validateShutdownWithoutWAL(); err != nil {
		return err
	}
	if len(cfg.IncludeMetadataKeys) > 0 {
		return fmt.Errorf("`include_metadata_keys` is not supported by ordered_rw, found %q: samples of many pushes share a request, "+
			"so there is no single client metadata to forward; remove it", cfg.IncludeMetadataKeys)
	}
	if cfg.SendMetadata {
		return errSendMetadata
	}
	if cfg.RemoteWriteProtoMsg != "" && cfg.RemoteWriteProtoMsg != remoteapi.WriteV1MessageType {
		return fmt.Errorf("`protobuf_message` must be %s (remote write 1.0), found %q: ordered_rw does not send remote write 2.0",
			remoteapi.WriteV1MessageType, cfg.RemoteWriteProtoMsg)
	}
	return nil
}

func (o *OrderingConfig) holdback() bool {
	return o.Mode == ModeHoldback || o.Mode == ModeHoldbackAndStamp
}
func (o *OrderingConfig) stamp() bool { return o.Mode == ModeStamp || o.Mode == ModeHoldbackAndStamp }

// Validate checks `ordering.mode`, the per-series state and memory bounds and `ordering.shutdown_timeout`;
// `ordering.stamp` and `ordering.holdback` validate themselves.
func (o *OrderingConfig) Validate() error {
	if err := o.validateSeriesState(); err != nil {
		return err
	}
	if err := o.validateShutdownTimeout(); err != nil {
		return err
	}
	switch o.Mode {
	case ModeHoldback, ModeStamp, ModeHoldbackAndStamp, ModeNone:
		return nil
	}
	return fmt.Errorf("`ordering.mode` must be one of %s, %s, %s, %s, found %q", ModeHoldback, ModeStamp, ModeHoldbackAndStamp, ModeNone, o.Mode)
}

func (o *OrderingConfig) validateSeriesState() error {
	if o.IdleTimeout <= 0 {
		return fmt.Errorf("`ordering.idle_timeout` must be positive, found %s", o.IdleTimeout)
	}
	if o.MaxTrackedSeries <= 0 {
		return fmt.Errorf("`ordering.max_tracked_series` must be positive, found %d", o.MaxTrackedSeries)
	}
	if o.MaxBufferedBytes < 0 {
		return fmt.Errorf("`ordering.max_buffered_bytes` must not be negative (0 derives it from the memory limit), found %d", o.MaxBufferedBytes)
	}
	return nil
}

// Validate checks the stamp, in every mode: a key that is set must be valid even where the mode
// does not use it.
func (s *StampConfig) Validate() error {
	if s.Label == "" {
		return errors.New("`ordering.stamp.label` must not be empty, found \"\"")
	}
	return nil
}

// Validate checks the hold-back bounds, in every mode, as StampConfig does.
func (h *HoldbackConfig) Validate() error {
	if h.Window <= 0 {
		return fmt.Errorf("`ordering.holdback.window` must be positive, found %s", h.Window)
	}
	if h.MaxHeldSamples <= 0 {
		return fmt.Errorf("`ordering.holdback.max_held_samples` must be positive, found %d", h.MaxHeldSamples)
	}
	if h.MaxFuture <= 0 {
		return fmt.Errorf("`ordering.holdback.max_future` must be positive, found %s", h.MaxFuture)
	}
	return nil
}

// validateWAL checks the upstream `wal` block. Zero values mean the defaults, as upstream; an
// empty directory is refused, where upstream would write in the working directory.
//
// `buffer_size` is refused unless it is upstream's default: upstream reads that many entries from
// its log per upload, then truncates; this log is replayed one entry (one push) at a time and
// truncated by what was delivered, so no such buffer exists to size.
func validateWAL(cfg *prometheusremotewriteexporter.WALConfig) error {
	if cfg.Directory == "" {
		return errors.New("`wal.directory` must be set when `wal` is present, found \"\"")
	}
	if cfg.BufferSize != 0 && cfg.BufferSize != upstreamWALBufferSize {
		return fmt.Errorf("`wal.buffer_size` is not supported by ordered_rw, found %d: upstream reads that many entries per upload "+
			"before truncating, while ordered_rw replays its log one push at a time and truncates it by what was delivered; remove the key", cfg.BufferSize)
	}
	if cfg.TruncateFrequency < 0 {
		return fmt.Errorf("`wal.truncate_frequency` must be positive (or 0 for the default %s), found %s", wal.DefaultTruncateInterval, cfg.TruncateFrequency)
	}
	if cfg.LagRecordFrequency < 0 {
		return fmt.Errorf("`wal.lag_record_frequency` must be positive (or 0 for the default %s), found %s", wal.DefaultLagInterval, cfg.LagRecordFrequency)
	}
	return nil
}

func (o *OrderingConfig) validateShutdownTimeout() error {
	if o.ShutdownTimeout <= 0 {
		return fmt.Errorf("`ordering.shutdown_timeout` must be positive, found %s", o.ShutdownTimeout)
	}
	return nil
}

// validateShutdownWithoutWAL: without a WAL, a shutdown shorter than the window would release
// held samples ahead of their time, where another gateway's older samples of the same series may
// still follow. With a WAL held samples stay in the log, and the window does not matter.
func (cfg *Config) validateShutdownWithoutWAL() error {
	o := &cfg.Ordering
	if !cfg.WAL.HasValue() && o.holdback() && o.ShutdownTimeout > 0 && o.ShutdownTimeout <= o.Holdback.Window {
		return fmt.Errorf("`ordering.shutdown_timeout` must be greater than `ordering.holdback.window` (%s) without `wal`, found %s",
			o.Holdback.Window, o.ShutdownTimeout)
	}
	return nil
}

// validateShards checks `remote_write_queue.min_shards` and `max_shards`, and that max_shards
// agrees with upstream's key for the same bound when both are set.
func (cfg *Config) validateShards() error {
	sh := cfg.Shards
	if sh.MinShards < 1 {
		return fmt.Errorf("`remote_write_queue.min_shards` must be positive, found %d", sh.MinShards)
	}
	if sh.MaxShards < sh.MinShards {
		return fmt.Errorf("`remote_write_queue.max_shards` must be at least `remote_write_queue.min_shards` (%d), found %d", sh.MinShards, sh.MaxShards)
	}
	if upstream := cfg.upstreamMaxShards(); upstream != sh.MaxShards {
		key := "remote_write_queue.num_consumers"
		if cfg.MaxBatchRequestParallelism != nil {
			key = parallelism
		}
		return fmt.Errorf("`remote_write_queue.max_shards` must equal `%s` (upstream's name for the most parallel requests) when both are set, "+
			"found %d and %d; set one of them", key, sh.MaxShards, upstream)
	}
	return nil
}
