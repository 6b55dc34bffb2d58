// Package examples_test holds the rules every example directory follows: a README that says
// when to choose the mode and how to run it, with links that lead somewhere.
package examples_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/collectortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEveryExampleHasAReadme: every directory under examples/ that holds files has a README.md.
func TestEveryExampleHasAReadme(t *testing.T) {
	root := filepath.Join(collectortest.RepoRoot(t), "examples")
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		hasFiles := false
		for _, e := range entries {
			hasFiles = hasFiles || !e.IsDir()
		}
		if hasFiles {
			rel, _ := filepath.Rel(root, path)
			assert.FileExists(t, filepath.Join(path, "README.md"), "examples/%s has no README.md", rel)
		}
		return nil
	}))
}

var markdownLink = regexp.MustCompile(`\]\(([^)#\s]+)(?:#[^)]*)?\)`)

// TestReadmeLinks: relative links in the packaging READMEs resolve to files in the repository.
func TestReadmeLinks(t *testing.T) {
	repo := collectortest.RepoRoot(t)
	var readmes []string
	for _, dir := range []string{"examples", filepath.Join("distribution", "ecs")} {
		require.NoError(t, filepath.WalkDir(filepath.Join(repo, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(repo, path)
			// Other people's examples keep their own rules.
			if d.IsDir() && (rel == filepath.Join("examples", "gateway") || rel == filepath.Join("examples", "adot-compat")) {
				return filepath.SkipDir
			}
			if d.Name() == "README.md" {
				readmes = append(readmes, path)
			}
			return nil
		}))
	}
	require.NotEmpty(t, readmes)
	for _, readme := range readmes {
		raw, err := os.ReadFile(readme)
		require.NoError(t, err)
		rel, _ := filepath.Rel(repo, readme)
		for _, m := range markdownLink.FindAllStringSubmatch(string(raw), -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			_, err := os.Stat(filepath.Join(filepath.Dir(readme), target))
			assert.NoError(t, err, "%s links to %s, which does not exist", rel, target)
		}
	}
}
