package adotcompatconverter

// fleetHealthRenames are the deprecated keys and values of fleet_health, rewritten to their replacements with
// a warning each (see renamedKey). Remove an entry one release after it was added.
var fleetHealthRenames = []renamedKey{}
