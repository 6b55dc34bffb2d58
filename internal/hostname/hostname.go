// Package hostname names the collector the same way in every component that needs a default
// name for it (fleet_health's member id, ordered_rw's stamp value): $HOSTNAME first, because in
// Kubernetes and ECS that is the pod or task name an operator sees, then the kernel's host name.
package hostname // import "github.com/otelcol-fleet/otelcol-fleet/internal/hostname"

import (
	"errors"
	"os"
)

// Get returns $HOSTNAME when it is set, else the kernel's host name.
func Get() (string, error) {
	if h := os.Getenv("HOSTNAME"); h != "" {
		return h, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", err
	}
	if h == "" {
		return "", errors.New("the host name is empty")
	}
	return h, nil
}
