package adotcompatconverter

// orderedRWRenames are the deprecated keys and values of ordered_rw, rewritten to their replacements with
// a warning each (see renamedKey). Remove an entry one release after it was added.
//
// None in this release: ordered_rw's keys already speak the shared vocabulary (its `window` is the
// lateness window, `ordering.holdback.window`). Its one rename is a self-metric, held_series →
// tracked_series, which the component itself emits under both names for a release.
var orderedRWRenames = []renamedKey{}
