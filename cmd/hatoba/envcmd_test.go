package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestTableAlignsJapaneseColumns: in `hatoba env list` the column after a
// Japanese system name starts at the same terminal column as after an
// ASCII one.
func TestTableAlignsJapaneseColumns(t *testing.T) {
	t.Parallel()
	var tbl table
	for _, name := range []string{"SYSTEM", "住民記録", "tax", "ｶﾅ半角", "ＡＢＣ"} {
		tbl.add(name, "NEXT")
	}
	var buf bytes.Buffer
	if err := tbl.print(&buf); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"SYSTEM": 0, "住民記録": 4, "tax": 0, "ｶﾅ半角": 2, "ＡＢＣ": 3} // runes taking two columns
	var first int
	for i, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		before, _, ok := strings.Cut(line, "NEXT")
		if !ok {
			t.Fatalf("line %d lost its second column: %q", i, line)
		}
		name := strings.TrimSpace(before)
		col := len([]rune(before)) + want[name]
		if i == 0 {
			first = col
		} else if col != first {
			t.Fatalf("%q: NEXT at terminal column %d, want %d:\n%s", name, col, first, buf.String())
		}
	}
}
