package fleet

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed fleet.html
var pageSource string

var pageTemplate = template.Must(template.New("fleet").Funcs(template.FuncMap{
	"age":       func(s float64) string { return time.Duration(s * float64(time.Second)).Truncate(time.Second).String() },
	"mulf":      func(v float64) float64 { return 100 * v },
	"sparkline": Sparkline,
}).Parse(pageSource))

// View is what GET /fleet answers.
type View struct {
	GeneratedAt       time.Time      `json:"generated_at"`
	StaleAfterSeconds float64        `json:"stale_after_seconds"`
	Counts            map[string]int `json:"counts"`
	Members           []Member       `json:"members"`
}

// RenderPage writes the fleet page: rendered on the server so it reads without scripts, then
// refreshed in the browser from GET /fleet (JSON) every 2 s.
func RenderPage(w io.Writer, v View) error {
	return pageTemplate.Execute(w, v)
}

// Sparkline geometry, shared with the page's script (fleet.html draws the same from JSON).
const (
	sparkWidth  = 60
	sparkHeight = 16
)

// Sparkline draws values (shares; -1 = no value) as a small inline SVG polyline scaled to
// max(1, highest value), so 100% is the top line unless a value exceeds it. Only numbers go into
// the markup, so it is safe to mark as HTML.
func Sparkline(label string, values []float64) template.HTML {
	top := 1.0
	any := false
	for _, v := range values {
		if v >= 0 {
			any = true
			top = max(top, v)
		}
	}
	if !any {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, sparkWidth, sparkHeight, sparkWidth, sparkHeight, template.HTMLEscapeString(label))
	b.WriteString(`<polyline fill="none" stroke="currentColor" stroke-width="1.2" points="`)
	step := float64(sparkWidth) / float64(max(len(values)-1, 1))
	first := true
	for i, v := range values {
		if v < 0 {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		fmt.Fprintf(&b, "%.1f,%.1f", float64(i)*step, float64(sparkHeight)-1-(v/top)*float64(sparkHeight-2))
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and an escaped label only
}
