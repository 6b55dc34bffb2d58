package adotcompatconverter

// orderedRWRenames are the deprecated keys and values of ordered_rw, rewritten to their replacements with
// a warning each (see renamedKey). Remove an entry one release after it was added.
var orderedRWRenames = []renamedKey{}
