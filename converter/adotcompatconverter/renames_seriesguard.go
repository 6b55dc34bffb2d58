package adotcompatconverter

// seriesGuardRenames are the deprecated keys and values of series_guard, rewritten to their replacements with
// a warning each (see renamedKey). Remove an entry one release after it was added.
var seriesGuardRenames = []renamedKey{}
