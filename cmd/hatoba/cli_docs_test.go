package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// cliDocs is where the command line's reference lives, one page a command.
const cliDocs = "../../docs/cli"

// TestCLIDocsCurrent fails when docs/cli is not what the command tree
// generates; HATOBA_UPDATE_CLI_DOCS=1 rewrites it (make cli-docs).
func TestCLIDocsCurrent(t *testing.T) {
	update := os.Getenv("HATOBA_UPDATE_CLI_DOCS") == "1"
	// Flag defaults read HATOBA_* variables: the reference shows the
	// defaults of an empty environment (and so this test is not parallel).
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "HATOBA_") {
			t.Setenv(k, "")
		}
	}
	root := newRootCmd()
	root.DisableAutoGenTag = true // no date: the pages must be reproducible
	gen := t.TempDir()
	if err := doc.GenMarkdownTreeCustom(root, gen, func(string) string { return "" }, func(name string) string {
		return strings.TrimSuffix(name, ".md") + ".md"
	}); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadDir(gen)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range want { // the flags as the help prints them (cli.go's plainBools)
		p := filepath.Join(gen, e.Name())
		page, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.ReplaceAll(page, []byte("[=true|false]"), []byte("             ")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(gen, "README.md"), cliIndex(root), 0o644); err != nil {
		t.Fatal(err)
	}
	if want, err = os.ReadDir(gen); err != nil {
		t.Fatal(err)
	}
	if update {
		if err := os.RemoveAll(cliDocs); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(cliDocs, os.DirFS(gen)); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadDir(cliDocs)
	if err != nil {
		t.Fatalf("%v: generate the reference with HATOBA_UPDATE_CLI_DOCS=1 go test ./cmd/hatoba -run TestCLIDocsCurrent", err)
	}
	if len(have) != len(want) {
		t.Fatalf("docs/cli has %d pages, the command tree %d: regenerate with HATOBA_UPDATE_CLI_DOCS=1 go test ./cmd/hatoba -run TestCLIDocsCurrent", len(have), len(want))
	}
	for _, e := range want {
		g, _ := os.ReadFile(filepath.Join(gen, e.Name()))
		h, err := os.ReadFile(filepath.Join(cliDocs, e.Name()))
		if err != nil || !bytes.Equal(g, h) {
			t.Errorf("docs/cli/%s is stale: regenerate with HATOBA_UPDATE_CLI_DOCS=1 go test ./cmd/hatoba -run TestCLIDocsCurrent", e.Name())
		}
	}
}

// cliIndex is docs/cli/README.md: every command with its one line.
func cliIndex(root *cobra.Command) []byte {
	var b bytes.Buffer
	b.WriteString("# hatoba's command line\n\n" +
		"Generated from the command tree by `HATOBA_UPDATE_CLI_DOCS=1 go test ./cmd/hatoba -run TestCLIDocsCurrent`;\n" +
		"the test fails when these pages are stale. `hatoba COMMAND --help` prints the same.\n\n" +
		"Flags may stand before or after the arguments. Shell completion: `hatoba completion bash|zsh|fish|powershell --help`.\n\n")
	walk(root, func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		file := strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
		b.WriteString("- [`" + c.CommandPath() + "`](" + file + ") — " + c.Short + "\n")
	})
	return b.Bytes()
}
