package fleettest

import (
	"context"
	"os"
	"os/exec"
	"time"
)

// DumpDOM loads url in headless Chromium (Debian package `chromium`) and returns the DOM after
// the page's scripts ran: --virtual-time-budget lets timers and fetches complete before the dump.
func DumpDOM(t T, url string) string {
	t.Helper()
	SkipIfE2EDisabled(t)
	bin, err := LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	profile, err := os.MkdirTemp("", "fleettest-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir="+profile,
		"--virtual-time-budget=5000",
		"--dump-dom", url)
	var stderr LockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, tail(stderr.String(), 3000))
	}
	return string(out)
}
