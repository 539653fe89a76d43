package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock is a shell block of the README that the doc test runs.
type readmeBlock struct {
	line int // of the opening fence
	text string
}

// doctestMarker, on the line right before a ```sh fence, marks the block as
// one the doc test runs.
const doctestMarker = "<!-- doctest"

// readmeBlocks extracts the marked ```sh blocks of a Markdown document.
func readmeBlocks(md []byte) ([]readmeBlock, error) {
	var (
		blocks []readmeBlock
		cur    *readmeBlock
		body   strings.Builder
		prev   string
		n      int
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.text = body.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line + "\n")
		case strings.TrimSpace(line) == "```sh" && strings.HasPrefix(strings.TrimSpace(prev), doctestMarker):
			cur = &readmeBlock{line: n}
			body.Reset()
		}
		prev = line
	}
	if cur != nil {
		return nil, fmt.Errorf("the block at line %d is not closed", cur.line)
	}
	return blocks, sc.Err()
}

func TestReadmeBlocksExtraction(t *testing.T) {
	t.Parallel()
	md := "text\n```sh\nnot marked\n```\n<!-- doctest -->\n```sh\necho one\necho two\n```\n<!-- doctest: why -->\n```sh\necho three\n```\n<!-- doctest -->\n\n```sh\nnot right before\n```\n"
	blocks, err := readmeBlocks([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 || blocks[0].text != "echo one\necho two\n" || blocks[0].line != 6 || blocks[1].text != "echo three\n" {
		t.Fatalf("blocks %+v", blocks)
	}
	if _, err := readmeBlocks([]byte("<!-- doctest -->\n```sh\necho\n")); err == nil {
		t.Fatal("an unclosed block was taken")
	}
}

// TestReadme runs the README's marked shell blocks in order, as a newcomer
// would from a fresh clone: in a scratch directory holding the repository's
// files, with a home of its own and no HATOBA_* settings of the machine's.
// The blocks run as written but for three things that let the test run
// beside another hatoba, and quickly: the server's port (8443 in the text
// becomes a free one, passed on as HATOBA_LISTEN, HATOBA_SERVER and
// identity.public_url), the simulated cloud's latency, and where go
// compiles: in the repository, since the build cache keys the module's
// packages by their directory and a copy elsewhere would compile all of
// hatoba again (what go build and go run write still lands here).
func TestReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hatoba and starts a server")
	}
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README's commands need %s (scripts/install-test-deps.sh installs it)", tool)
		}
	}
	// The other tests build hatoba from the same directories with the same
	// flags: waiting for that build leaves the README's go build only the
	// link (go test -race compiled nothing it could use).
	hatobaBinary(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(md)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 3 {
		t.Fatalf("the README marks %d blocks for the doc test; it had at least 3", len(blocks))
	}

	scratch := t.TempDir()
	cloneInto(t, repo, scratch)
	home := filepath.Join(scratch, ".home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	env := []string{"HOME=" + home, "HATOBA_LISTEN=127.0.0.1:" + port, "HATOBA_SERVER=https://localhost:" + port,
		"HATOBA_IDENTITY_PUBLIC_URL=https://localhost:" + port, "HATOBA_SIMCLOUD_LATENCY=20ms",
		"HATOBA_PROVIDERS_SIM_POLL_INTERVAL=50ms", "HATOBA_VENDING_FETCH_POLL_INTERVAL=100ms"}
	// Go's caches and settings stay where they are (a new HOME would lose
	// them and rebuild everything).
	for _, v := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOENV"} {
		out, err := exec.Command("go", "env", v).Output()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, v+"="+strings.TrimSpace(string(out)))
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "HATOBA_"), k == "HOME", k == "XDG_CONFIG_HOME", k == "GOCACHE", k == "GOMODCACHE", k == "GOPATH", k == "GOENV":
		default:
			env = append(env, kv)
		}
	}

	bin := t.TempDir()
	state := filepath.Join(scratch, ".doctest-env")
	var groups []int
	t.Cleanup(func() { // what the blocks left running (serve &), before the scratch directory goes
		for _, pgid := range groups {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		for _, pgid := range groups { // orphans are not our children: poll until they are gone
			for deadline := time.Now().Add(10 * time.Second); syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
		}
	})
	for i, b := range blocks {
		script := "set -euo pipefail\nPS4='+ ${SECONDS}s '\nset -x\n" +
			"if [ -f " + state + " ]; then source " + state + "; fi\n" +
			"trap 'export -p > " + state + "' EXIT\n" +
			fmt.Sprintf(goShim, repo, bin) +
			strings.ReplaceAll(b.text, "localhost:8443", "localhost:"+port)
		out, err := os.Create(filepath.Join(scratch, fmt.Sprintf(".doctest-%d.out", i)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = scratch, env, out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		start := time.Now()
		err = cmd.Start()
		if err == nil {
			groups = append(groups, cmd.Process.Pid)
			err = cmd.Wait()
		}
		cancel()
		_ = out.Close()
		// A background process of the block (serve) may still write to the
		// file; what it holds so far is enough to judge.
		output, _ := os.ReadFile(out.Name())
		if err != nil {
			t.Fatalf("README.md:%d: the block failed (%v, after %s):\n%s\n--- output:\n%s", b.line, err, time.Since(start).Round(time.Millisecond), b.text, output)
		}
		t.Logf("README.md:%d ran in %s", b.line, time.Since(start).Round(time.Millisecond))
		if testing.Verbose() {
			t.Logf("%s", output)
		}
	}
}

// goShim compiles in the repository (%[1]s) what the README's go build and
// go run name, writing and running the result here (TestReadme says why).
const goShim = `go() {
  local -; set +x
  local sub=$1; shift
  case $sub in
  build)
    local args=()
    while [ $# -gt 0 ]; do
      if [ "$1" = -o ]; then args+=(-o "$(realpath -m "$2")"); shift 2; else args+=("$1"); shift; fi
    done
    command go -C %[1]q build "${args[@]}";;
  run)
    local pkg=$1; shift
    command go -C %[1]q build -o %[2]q/run "$pkg" && %[2]q/run "$@";;
  *) command go -C %[1]q "$sub" "$@";;
  esac
}
`

// cloneInto makes dst look like a fresh clone of repo: a link to every
// top-level file and directory git knows (tracked or not ignored), and
// nothing a run left behind (hatoba.db, bin/, trial-pki/, …).
func cloneInto(t *testing.T, repo, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", repo, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	seen := map[string]bool{}
	for _, p := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, _ := strings.Cut(p, "/")
		if top == "" || seen[top] {
			continue
		}
		seen[top] = true
		if _, err := os.Lstat(filepath.Join(repo, top)); err != nil {
			continue // deleted in the work tree
		}
		if err := os.Symlink(filepath.Join(repo, top), filepath.Join(dst, top)); err != nil {
			t.Fatal(err)
		}
	}
	if !seen["go.mod"] || !seen["cmd"] {
		t.Fatalf("%s does not look like hatoba's repository", repo)
	}
}
