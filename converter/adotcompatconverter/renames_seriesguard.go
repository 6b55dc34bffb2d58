package adotcompatconverter

// seriesGuardRenames are the deprecated keys and values of series_guard, rewritten to their replacements with
// a warning each (see renamedKey). Remove an entry one release after it was added.
var seriesGuardRenames = []renamedKey{
	// `window` is ordered_rw's lateness window only; how long a series stays active after it was
	// last seen is an idle timeout (added in the release after 0.165).
	{section: "processors", typ: "series_guard", oldPath: "series_limits.window", newPath: "series_limits.idle_timeout"},
	// A cap that drops whole series says drop_series everywhere, as label_limits.action already did.
	{section: "processors", typ: "series_guard", oldPath: "series_limits.action", newPath: "series_limits.action",
		values: map[string]string{"drop": "drop_series"}},
}
