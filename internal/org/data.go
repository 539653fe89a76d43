package org

import (
	"bytes"
	"embed"
)

// The built-in data: the local-government files are code4fukui/localgovjp
// (CC0 1.0, see data/localgov/SOURCE.md) as published, with its BOM and
// dropped leading zeros; national.csv is maintained here.
//
//go:embed data/localgov/prefjp-utf8.csv data/localgov/localgovjp-utf8.csv data/national.csv
var embedded embed.FS

// embeddedFiles are the paths of the built-in data in the order Import
// applies them.
var embeddedFiles = []string{
	"data/localgov/prefjp-utf8.csv",
	"data/localgov/localgovjp-utf8.csv",
	"data/national.csv",
}

// EmbeddedSources returns the built-in data — Japan's 47 prefectures, 1,916
// municipalities and wards, and its national and some quasi-public bodies —
// as sources for Import.
func EmbeddedSources() []Source {
	out := make([]Source, 0, len(embeddedFiles))
	for _, name := range embeddedFiles {
		b, err := embedded.ReadFile(name)
		if err != nil {
			panic("org: embedded data missing: " + err.Error()) // the go:embed line guarantees it
		}
		out = append(out, Source{Name: name, R: bytes.NewReader(b)})
	}
	return out
}
