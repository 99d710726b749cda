package deploy

import (
	"fmt"
	"strings"
	"testing"
)

// wantBuild is the build line the README's sizes were measured with.
const wantBuild = `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/credreg ./cmd/credreg`

// dockerInstruction is one instruction of a Dockerfile, continuations joined.
type dockerInstruction struct {
	Cmd  string // upper case: FROM, RUN, …
	Args string
}

func parseDockerfile(text string) []dockerInstruction {
	var out []dockerInstruction
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, dockerInstruction{Cmd: strings.ToUpper(cmd), Args: strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	return out
}

// shellWords splits a command line as sh would for the words this
// Dockerfile uses: spaces separate, double quotes group.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unclosed quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// dockerBuildLine returns the Dockerfile's go build command, without the
// RUN's --mount options, and fails unless it is wantBuild.
func dockerBuildLine(t *testing.T) string {
	t.Helper()
	var found []string
	for _, in := range parseDockerfile(string(readRecipe(t, "Dockerfile"))) {
		if in.Cmd != "RUN" || !strings.Contains(in.Args, "go build") {
			continue
		}
		words := strings.Fields(in.Args)
		for len(words) > 0 && strings.HasPrefix(words[0], "--mount=") {
			words = words[1:]
		}
		found = append(found, strings.Join(words, " "))
	}
	if len(found) != 1 || found[0] != wantBuild {
		t.Fatalf("Dockerfile: want one RUN %s, got %q", wantBuild, found)
	}
	return found[0]
}

func TestDockerfile(t *testing.T) {
	dockerBuildLine(t)
	ins := parseDockerfile(string(readRecipe(t, "Dockerfile")))
	var froms []string
	last := map[string]string{} // the final stage's last instruction of each kind
	for _, in := range ins {
		if in.Cmd == "FROM" {
			froms = append(froms, in.Args)
			clear(last)
		}
		last[in.Cmd] = in.Args
		if in.Cmd == "ENV" || in.Cmd == "ARG" {
			for _, word := range []string{"SECRET", "PASSWORD", "TOKEN", "KEY"} {
				if strings.Contains(strings.ToUpper(in.Args), word) {
					t.Errorf("Dockerfile: %s %s looks like a secret baked into the image", in.Cmd, in.Args)
				}
			}
		}
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"two stages", len(froms) == 2},
		{"builder golang:1.26", len(froms) > 0 && strings.HasPrefix(froms[0], "golang:1.26 ")},
		{"final stage distroless static, nonroot", len(froms) == 2 && froms[1] == "gcr.io/distroless/static-debian12:nonroot"},
		{"USER 65532 in the final stage", strings.HasPrefix(last["USER"], "65532")},
		{"ENTRYPOINT credreg", last["ENTRYPOINT"] == `["/usr/local/bin/credreg"]`},
		{"a /data volume", last["VOLUME"] == "/data"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("Dockerfile: want %s (FROM %q, final stage %v)", c.what, froms, last)
		}
	}
}

func TestShellWords(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{`go build -ldflags "-s -w" -o x`, `go|build|-ldflags|-s -w|-o|x`},
		{`a  b`, `a|b`},
		{`"" x`, `|x`},
	}
	for _, c := range cases {
		got, err := shellWords(c.in)
		if err != nil || strings.Join(got, "|") != c.want {
			t.Errorf("shellWords(%q) = %q, %v; want %s", c.in, got, err, c.want)
		}
	}
	if _, err := shellWords(`a "b`); err == nil {
		t.Errorf("an unclosed quote: want an error")
	}
}
