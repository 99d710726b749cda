package deploy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// readRecipe reads a recipe file relative to deploy/.
func readRecipe(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// yamlDocs splits a multi-document YAML file, leaving out documents that
// hold only comments.
func yamlDocs(b []byte) [][]byte {
	var out [][]byte
	for _, d := range docSeparator.Split(string(b), -1) {
		var v any
		if err := yaml.Unmarshal([]byte(d), &v); err == nil && v == nil {
			continue
		}
		out = append(out, []byte(d))
	}
	return out
}

// decodeStrict parses YAML into v as the Kubernetes API server reads JSON:
// an unknown field, a field given twice, or a field in the wrong case (which
// encoding/json, and so sigs.k8s.io/yaml's UnmarshalStrict, would accept)
// fails.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// recipeConfig is a credreg.yaml of a recipe, read loosely: the test
// rewrites only the values that point at files of the machine it runs on,
// and credreg itself then reads the result strictly.
type recipeConfig struct {
	Name string // recipe, for messages
	Text []byte
}

// secretPathKeys are the settings whose values are paths of secret files.
func secretPathKeys() []string {
	return []string{"client_secret_file", "federated_token_file", "client_certificate_path",
		"client_certificate_password_file"}
}

// tenants returns the config's tenants as maps.
func (c recipeConfig) tenants(t *testing.T) []map[string]any {
	t.Helper()
	var doc struct {
		Tenants []map[string]any `json:"tenants"`
	}
	if err := yaml.Unmarshal(c.Text, &doc); err != nil {
		t.Fatalf("%s: credreg.yaml: %v", c.Name, err)
	}
	if len(doc.Tenants) == 0 {
		t.Fatalf("%s: credreg.yaml has no tenants", c.Name)
	}
	return doc.Tenants
}

// secretPaths lists every secret file path the config names.
func (c recipeConfig) secretPaths(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, tn := range c.tenants(t) {
		for _, k := range secretPathKeys() {
			if p, ok := tn[k].(string); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// containsArg reports whether args hold flag=value or flag value.
func containsArg(args []string, flag, value string) bool {
	for i, a := range args {
		if a == flag+"="+value || (a == flag && i+1 < len(args) && args[i+1] == value) {
			return true
		}
	}
	return false
}

// within reports whether path lies in dir (a mount path).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}

// hasPlaceholder reports whether b still tells the reader what to fill in.
func hasPlaceholder(b []byte) bool { return bytes.Contains(b, []byte("FILL IN")) }
