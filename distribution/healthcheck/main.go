// Command healthcheck probes a URL and exits 0 when it answers 2xx, 1 otherwise. It exists for
// container health checks (ECS `healthCheck.command`) in images that have no shell or curl: it
// uses only the standard library and builds static with CGO_ENABLED=0.
//
//	healthcheck                                   # GET http://localhost:13133/readyz
//	healthcheck -url http://localhost:13133/livez -timeout 2s
//	healthcheck http://localhost:13133/livez      # the URL may also be the only argument
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const (
	// defaultURL is fleet_health's readiness endpoint on its default port.
	defaultURL = "http://localhost:13133/readyz"
	// defaultTimeout stays under ECS' default health-check timeout of 5s.
	defaultTimeout = 3 * time.Second
	// maxBodyShown bounds how much of a failing answer is printed.
	maxBodyShown = 512
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, for tests: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", defaultURL, "URL to GET; any 2xx answer is healthy")
	timeout := fs.Duration("timeout", defaultTimeout, "give up after this long (connect, headers and body)")
	quiet := fs.Bool("quiet", false, "print nothing when healthy")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	switch fs.NArg() {
	case 0:
	case 1:
		*url = fs.Arg(0)
	default:
		fmt.Fprintln(stderr, "healthcheck: at most one URL argument")
		return 1
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "healthcheck: -timeout must be positive, found %s\n", *timeout)
		return 1
	}
	status, body, err := probe(*url, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %s: %v\n", *url, err)
		return 1
	}
	if status < 200 || status > 299 {
		fmt.Fprintf(stderr, "healthcheck: %s: status %d: %s\n", *url, status, body)
		return 1
	}
	if !*quiet {
		fmt.Fprintf(stdout, "healthcheck: %s: status %d\n", *url, status)
	}
	return 0
}

func probe(url string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("User-Agent", "otelcol-fleet-healthcheck")
	// A probe must not follow the proxy settings of the container's environment to localhost.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, "", fmt.Errorf("no answer within %s", timeout)
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyShown))
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, string(b), nil
}
