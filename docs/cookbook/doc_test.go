package cookbook

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// docQuery is one fenced query of docs/queries.md: ```sql <engine> id=<id>.
type docQuery struct {
	Engine, ID, SQL string
	Line            int // of the opening fence, for messages
}

// readDocQueries returns the doc's queries of the engine (duckdb or
// bigquery), in the doc's order. An id used twice for one engine, a fence
// left open, or a sql block naming no engine or id is an error: every
// query of the doc is meant to be run by a test.
func readDocQueries(path, engine string) ([]docQuery, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []docQuery
	seen := map[string]int{}
	var cur *docQuery
	var body []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur != nil {
			if strings.TrimSpace(line) == "```" {
				cur.SQL = strings.Join(body, "\n")
				if cur.Engine == engine {
					out = append(out, *cur)
				}
				cur, body = nil, nil
				continue
			}
			body = append(body, line)
			continue
		}
		info, ok := strings.CutPrefix(line, "```")
		if !ok {
			continue
		}
		fields := strings.Fields(info)
		if len(fields) == 0 || fields[0] != "sql" {
			continue
		}
		q := docQuery{Line: n}
		for _, f := range fields[1:] {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				q.ID = id
			} else {
				q.Engine = f
			}
		}
		if q.ID == "" || (q.Engine != "duckdb" && q.Engine != "bigquery") {
			return nil, fmt.Errorf("%s:%d: a sql block needs an engine (duckdb or bigquery) and an id=: %q", path, n, line)
		}
		k := q.Engine + " " + q.ID
		if first, dup := seen[k]; dup {
			return nil, fmt.Errorf("%s:%d: %s query %s also at line %d", path, n, q.Engine, q.ID, first)
		}
		seen[k] = n
		cur = &q
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: the %s block %s is never closed", path, cur.Line, cur.Engine, cur.ID)
	}
	return out, nil
}
