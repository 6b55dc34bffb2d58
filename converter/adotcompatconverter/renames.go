package adotcompatconverter

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// renamedKey is a key of one of this distribution's own components that has a new name (or an
// enumeration value with a new spelling). The old spelling keeps working for one release: it is
// rewritten to the new one, with one warning naming the replacement. These rules run whether or
// not the ADOT compatibility gate is on: they keep our own users' configs running, which is not
// an ADOT matter.
//
// Each component lists its renames in its own file (renames_<component>.go).
type renamedKey struct {
	// section is "processors", "exporters" or "extensions"; typ the component type.
	section, typ string
	// oldPath and newPath are dotted paths inside the component's config
	// ("series_limits.window"). Equal when only values are renamed.
	oldPath, newPath string
	// values maps retired values to their replacements (nil: the value is kept as it is).
	values map[string]string
}

// renamedKeys is every rename of every component, in the order the rules run.
var renamedKeys = concatRenames(seriesGuardRenames, orderedRWRenames, fleetHealthRenames)

func concatRenames(lists ...[]renamedKey) []renamedKey {
	var all []renamedKey
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

// rewriteRenamedKeys applies renamedKeys to every component of the type each names.
func rewriteRenamedKeys(conf *confmap.Conf) ([]finding, error) {
	var out []finding
	for _, r := range renamedKeys {
		for _, id := range componentIDs(conf, r.section, r.typ) {
			f, err := r.apply(conf, key(r.section, id))
			if err != nil {
				return nil, err
			}
			if f != nil {
				out = append(out, *f)
			}
		}
	}
	return out, nil
}

func (r renamedKey) apply(conf *confmap.Conf, base string) (*finding, error) {
	oldKey := base + d + strings.ReplaceAll(r.oldPath, ".", d)
	newKey := base + d + strings.ReplaceAll(r.newPath, ".", d)
	if !conf.IsSet(oldKey) {
		return nil, nil
	}
	v := conf.Get(oldKey)
	newValue := v
	if r.values != nil {
		s, ok := v.(string)
		if !ok {
			return nil, nil
		}
		repl, retired := r.values[s]
		if !retired {
			return nil, nil // already a current value (or a wrong one, which Validate reports)
		}
		newValue = repl
	}
	if oldKey != newKey && conf.IsSet(newKey) {
		return nil, fmt.Errorf("`%s` and its deprecated alias `%s` are both set; remove `%s`", dotted(newKey), dotted(oldKey), dotted(oldKey))
	}
	conf.Delete(oldKey)
	if err := set(conf, newKey, newValue); err != nil {
		return nil, err
	}
	f := finding{rewrote: true, origin: originDeprecated, oldKey: dotted(oldKey), newKey: dotted(newKey),
		line: fmt.Sprintf("%s: %v", r.newPath, newValue)}
	if oldKey == newKey {
		f.oldKey = fmt.Sprintf("%s: %v", dotted(oldKey), v)
		f.newKey = fmt.Sprintf("%s: %v", dotted(newKey), newValue)
	}
	return &f, nil
}
