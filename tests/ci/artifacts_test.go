package ci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type workflowFile struct {
	Jobs map[string]struct {
		Steps []struct {
			Name string            `json:"name"`
			If   string            `json:"if"`
			Uses string            `json:"uses"`
			Env  map[string]string `json:"env"`
			With map[string]any    `json:"with"`
		} `json:"steps"`
	} `json:"jobs"`
}

// Every workflow that runs cells writes the reports (junit.xml, summary.md,
// results.json, report.html, bundles) to _artifacts and uploads that
// directory even when the run failed, which is when it is read.
func TestWorkflowsUploadTheReports(t *testing.T) {
	for _, f := range workflows(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var wf workflowFile
		if err := yaml.Unmarshal(data, &wf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		runs, uploads := 0, 0
		for job, j := range wf.Jobs {
			for _, s := range j.Steps {
				if a, ok := s.Env["ARTIFACTS"]; ok {
					runs++
					if a != "${{ github.workspace }}/_artifacts" {
						t.Errorf("%s job %s step %q: ARTIFACTS=%q, want ${{ github.workspace }}/_artifacts", filepath.Base(f), job, s.Name, a)
					}
				}
				if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
					uploads++
					if path, _ := s.With["path"].(string); strings.TrimSuffix(path, "/") != "_artifacts" {
						t.Errorf("%s job %s: uploads %q, want the whole _artifacts/ (report.html and the bundles live there)", filepath.Base(f), job, path)
					}
					if s.If != "always()" {
						t.Errorf("%s job %s: upload step runs if %q, want always() so failed runs keep their reports", filepath.Base(f), job, s.If)
					}
				}
			}
		}
		if runs == 0 || uploads == 0 {
			t.Errorf("%s: %d steps set ARTIFACTS and %d upload it; want both", filepath.Base(f), runs, uploads)
		}
	}
}
