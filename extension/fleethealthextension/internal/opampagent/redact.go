package opampagent

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces every value Redact hides.
const Redacted = "[REDACTED]"

// secretKey matches keys whose values are secrets in collector configurations: passwords,
// tokens, keys, credentials, authorization and cookie values.
var secretKey = regexp.MustCompile(`(?i)(pass(word|wd)?|secret|token|api_?key|access_?key|private_?key|key_pem|cert_pem|credential|authorization|auth_header|cookie|bearer|signature|session)`)

// Redact returns a copy of a configuration map (confmap's ToStringMap) that is safe to send:
// values of secret-looking keys and of every `headers` entry are replaced, and the user info of
// any URL-looking string is removed. A key named `auth` is kept: it names an extension.
func Redact(conf map[string]any) map[string]any {
	return redactMap(conf, false)
}

func redactMap(m map[string]any, allValuesSecret bool) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch {
		case allValuesSecret, secretKey.MatchString(k):
			if v == nil {
				out[k] = nil
			} else if sub, ok := v.(map[string]any); ok && !allValuesSecret {
				out[k] = redactMap(sub, true)
			} else {
				out[k] = Redacted
			}
		default:
			out[k] = redactValue(k, v)
		}
	}
	return out
}

func redactValue(key string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		// Header values and environment maps carry credentials by their nature.
		lk := strings.ToLower(key)
		return redactMap(t, lk == "headers" || lk == "response_headers" || lk == "env" || lk == "environment")
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = redactValue(key, e)
		}
		return out
	case string:
		return redactURL(t)
	default:
		return v
	}
}

// redactURL removes the password of URLs (scheme://user:pass@host), whole or inside a string.
func redactURL(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User(Redacted)
		return u.String()
	}
	return userInfo.ReplaceAllString(s, "://"+Redacted+"@")
}
