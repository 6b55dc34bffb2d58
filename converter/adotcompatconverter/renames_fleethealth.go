package adotcompatconverter

// fleetHealthRenames are the deprecated keys and values of fleet_health, rewritten to their replacements with
// a warning each (see renamedKey). Remove an entry one release after it was added.
var fleetHealthRenames = []renamedKey{
	// healthcheckv2's word for how long to stay healthy before answering ready again.
	{section: "extensions", typ: "fleet_health", oldPath: "recovery", newPath: "recovery_duration"},
}
