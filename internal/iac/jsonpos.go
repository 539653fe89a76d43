package iac

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
)

// pathSep joins the steps of a path in jsonLines' keys; it cannot occur
// unescaped in a key a reader looks up.
const pathSep = "\x1f"

func jsonPath(steps ...string) string { return strings.Join(steps, pathSep) }

// jsonLines maps the paths of a JSON document's values, down to maxDepth
// steps (object keys or array indices, joined by pathSep), to the line each
// starts on: for an object member, the line of its key. encoding/json keeps
// no positions, so this walks the tokens and finds each one's start.
func jsonLines(b []byte, maxDepth int) (map[string]int, error) {
	type frame struct {
		path      string // the container's own path ("" for the document)
		object    bool
		expectKey bool
		member    string // an object's member being read
		index     int    // an array's next index
		depth     int
	}
	var newlines []int
	for i, c := range b {
		if c == '\n' {
			newlines = append(newlines, i)
		}
	}
	lineAt := func(off int) int { return sort.SearchInts(newlines, off) + 1 }
	start := func(off int) int {
		for off < len(b) {
			switch b[off] {
			case ' ', '\t', '\r', '\n', ',', ':':
				off++
			default:
				return off
			}
		}
		return off
	}
	join := func(parent, step string) string {
		if parent == "" {
			return step
		}
		return parent + pathSep + step
	}
	out := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var stack []*frame
	for {
		pos := start(int(dec.InputOffset()))
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		path, depth := "", 0
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			depth = top.depth + 1
			switch {
			case top.object && top.expectKey:
				key, _ := tok.(string)
				top.member = join(top.path, key)
				if depth <= maxDepth {
					out[top.member] = lineAt(pos)
				}
				top.expectKey = false
				continue
			case top.object:
				path = top.member
				top.expectKey = true // once this value is read
			default:
				path = join(top.path, strconv.Itoa(top.index))
				top.index++
				if depth <= maxDepth {
					out[path] = lineAt(pos)
				}
			}
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, &frame{path: path, object: d == '{', expectKey: d == '{', depth: depth})
		}
	}
}
