package fleet

import (
	_ "embed"
	"html/template"
	"io"
	"time"
)

//go:embed fleet.html
var pageSource string

var pageTemplate = template.Must(template.New("fleet").Funcs(template.FuncMap{
	"age":  func(s float64) string { return time.Duration(s * float64(time.Second)).Truncate(time.Second).String() },
	"mulf": func(v float64) float64 { return 100 * v },
}).Parse(pageSource))

// View is what GET /fleet answers.
type View struct {
	GeneratedAt       time.Time      `json:"generated_at"`
	StaleAfterSeconds float64        `json:"stale_after_seconds"`
	Counts            map[string]int `json:"counts"`
	Members           []Member       `json:"members"`
}

// RenderPage writes the fleet page: rendered on the server so it reads without scripts, then
// refreshed in the browser from GET /fleet (JSON) every RefreshSeconds.
func RenderPage(w io.Writer, v View) error {
	return pageTemplate.Execute(w, v)
}
