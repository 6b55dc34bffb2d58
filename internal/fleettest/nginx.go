package fleettest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Nginx is a real nginx (Debian package) load balancer: round-robin, not sticky, HTTP/1.1 with
// keep-alive to the upstreams, in front of the gateways' OTLP/HTTP receivers.
type Nginx struct {
	Port int
	proc *process
}

// StartNginx balances http://127.0.0.1:Port across the given upstream host:port addresses.
func StartNginx(t T, upstreams []string) *Nginx {
	t.Helper()
	SkipIfE2EDisabled(t)
	bin, err := LookPath("nginx")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := FreePort(t)
	var servers strings.Builder
	for _, u := range upstreams {
		// A failed gateway is taken out for a few seconds, as a cloud load balancer's health
		// check would; requests that could not be sent move on to the next upstream.
		fmt.Fprintf(&servers, "    server %s max_fails=1 fail_timeout=2s;\n", u)
	}
	user := ""
	if os.Geteuid() == 0 {
		// Workers default to `nobody`, who cannot write the temp dir; stay root (tests only).
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
daemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log %[2]s/access.log;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 16m;
  upstream gateways {
%[3]s    keepalive 16;
  }
  server {
    listen 127.0.0.1:%[4]d;
    location / {
      proxy_pass http://gateways;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502 http_503;
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
    }
  }
}
`, user, dir, servers.String(), port)
	cfg := filepath.Join(dir, "nginx.conf")
	if err := writeFile(cfg, conf); err != nil {
		t.Fatal(err)
	}
	n := &Nginx{Port: port}
	n.proc = startProcess(t, "nginx", nil, bin, "-p", dir, "-c", cfg, "-e", filepath.Join(dir, "error.log"))
	waitFor(t, n.proc, 20*time.Second, "nginx listening", func() bool {
		resp, err := http.Get(n.URL() + "/")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return true
	})
	t.Cleanup(func() {
		if err := n.proc.terminate(10 * time.Second); err != nil {
			t.Logf("nginx stop: %v", err)
		}
	})
	return n
}

// Endpoint is the balancer's host:port.
func (n *Nginx) Endpoint() string { return "127.0.0.1:" + strconv.Itoa(n.Port) }

// URL is the balancer's base URL.
func (n *Nginx) URL() string { return "http://" + n.Endpoint() }
