package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// ReportURL turns `report_to` into the URL reports are POSTed to: a bare gateway address
// (http://gateway:13133) gets the /fleet path.
func ReportURL(reportTo string) (string, error) {
	u, err := url.Parse(reportTo)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme must be http or https, found %q", u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("no host in %q", reportTo)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/fleet"
	}
	return u.String(), nil
}

// Pusher sends this collector's report to the collector the fleet reports to.
type Pusher struct {
	URL    string
	Client *http.Client
}

// Push POSTs one report; any answer but 2xx is an error.
func (p *Pusher) Push(ctx context.Context, rep Report) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: status %d: %s", p.URL, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
