package browsertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// TabTimeout bounds everything one tab of NewTab does.
const TabTimeout = 3 * time.Minute

// NewTab starts a headless Chromium for the test and returns a tab of
// width×height. Everything the page writes to the browser's console as an
// error (an exception, a script the Content-Security-Policy refused, a
// failed request) fails the test at cleanup: the console has no inline
// script, and a refusal there is a defect a person would not see.
func NewTab(t testing.TB, width, height int, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path(t)),
		chromedp.WindowSize(width, height),
		// Chromium's sandbox needs kernel features containers and root
		// usually lack; the pages are the test's own.
		chromedp.NoSandbox,
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, TabTimeout)

	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, m.URL+": "+m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		<-done
		expected := expectedErrors(ctx)
	problems:
		for _, p := range problems {
			for _, e := range expected {
				if strings.Contains(p, e) {
					continue problems
				}
			}
			t.Errorf("browser console: %s", p)
		}
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	// A headless tab among others is not the focused window, and keys
	// typed into an unfocused page go nowhere: have it behave as focused.
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatalf("start the browser: focus emulation: %v", err)
	}
	return ctx
}

// WaitFor polls a JavaScript condition on the page until it holds, for up
// to 15 seconds. It evaluates again after an error, because the page may be
// navigating or reloading just then.
func WaitFor(t testing.TB, ctx context.Context, what, condition string) {
	t.Helper()
	WaitForWithin(t, ctx, 15*time.Second, what, condition)
}

// WaitForWithin is WaitFor with a deadline of the caller's choosing, for
// conditions that wait on real work (an environment being vended).
func WaitForWithin(t testing.TB, ctx context.Context, limit time.Duration, what, condition string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](condition))
		if err == nil && ok {
			return
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	t.Fatalf("waiting for %s: not true after %s (last error: %v)\npage:\n%s", what, limit, lastErr, html)
}

// AddAuthenticator gives the tab a DevTools virtual security key: CTAP2
// over USB, with a resident key and user verification, that answers every
// ceremony as if touched.
func AddAuthenticator(ctx context.Context) (cdpwebauthn.AuthenticatorID, error) {
	return chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (cdpwebauthn.AuthenticatorID, error) {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return "", fmt.Errorf("WebAuthn.enable: %w", err)
		}
		res, err := cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
			Options: &cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol:            cdpwebauthn.AuthenticatorProtocolCtap2,
				Transport:           cdpwebauthn.AuthenticatorTransportUsb,
				HasResidentKey:      true,
				HasUserVerification: true,
				IsUserVerified:      true,
				// Explicitly: left false, every ceremony waits for a touch
				// that never comes.
				AutomaticPresenceSimulation: true,
			},
		})
		if err != nil {
			return "", fmt.Errorf("WebAuthn.addVirtualAuthenticator: %w", err)
		}
		return res.AuthenticatorID, nil
	})
}

var (
	expectedMu sync.Mutex
	expected   = map[context.Context][]string{}
)

// ExpectConsoleError tells the tab ctx (from NewTab) that a console error
// holding substr is what the test provokes — a refused form answers 422,
// which Chromium reports as a failed load — and not a defect.
func ExpectConsoleError(ctx context.Context, substr string) {
	expectedMu.Lock()
	defer expectedMu.Unlock()
	expected[ctx] = append(expected[ctx], substr)
}

func expectedErrors(ctx context.Context) []string {
	expectedMu.Lock()
	defer expectedMu.Unlock()
	out := expected[ctx]
	delete(expected, ctx)
	return out
}
