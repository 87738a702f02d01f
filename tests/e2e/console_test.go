package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/adapters/admin/client"
)

// browser starts a headless Chromium for the test (skipped without one,
// except under CI, where .ci/run installs it) and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		msg := "chromium not found: the console's browser tests need it (apt-get install -y chromium; .ci/run does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.WindowSize(1440, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.Flag("lang", "en-US"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx
}

// shots is where the tests' screenshots go: $AUTOREG_SCREENSHOTS when set
// (to look at them, or to refresh docs/), else the test's temporary
// directory.
func shots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AUTOREG_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// do runs browser steps with a deadline, failing the test with what the
// page shows when they fail.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		tc, tcancel := context.WithTimeout(ctx, 3*time.Second)
		text, _ := chromedp.Run(tc, chromedp.Text(chromedp.CSS("body")))
		tcancel()
		t.Fatalf("%s: %v\npage:\n%s", what, err, text)
	}
}

// get runs one browser action that answers a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	do(t, ctx, "settle before "+name, chromedp.Sleep(300*time.Millisecond))
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// css is a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// waitJS waits until a JavaScript expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second))
}

// js runs JavaScript for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return chromedp.Void{}, err
	}
}

// choose selects a value in a <select> as a person would: the change event fires.
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return js(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change')); })()`, sel, value))
}

// fetchStatus makes a request from the page (with its cookie) and returns
// the status code.
func fetchStatus(t *testing.T, ctx context.Context, method, path, body string, withCSRF bool) int {
	t.Helper()
	csrf := "''"
	if withCSRF {
		csrf = "document.querySelector('meta[name=csrf-token]').content"
	}
	payload := "undefined"
	if body != "" {
		payload = fmt.Sprintf("%q", body)
	}
	expr := fmt.Sprintf(`(async () => {
		const h = {'Content-Type': 'application/json'};
		const c = %s; if (c) h['X-CSRF-Token'] = c;
		const r = await fetch(%q, {method: %q, headers: h, body: %s, credentials: 'same-origin'});
		return r.status;
	})()`, csrf, path, method, payload)
	return get(t, ctx, method+" "+path, chromedp.Evaluate[int](expr, chromedp.EvalAwaitPromise))
}

// signIn signs in on the console with a token and waits for the page.
func signIn(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	do(t, ctx, "sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), token),
		chromedp.Click(css("#signin")),
		chromedp.WaitVisible(css(`body[data-ready="true"]`)),
	)
}

// The console in a real browser against the real registrar: alice signs
// in with her admin token, opens a window, phones (phonesim, over SCCP)
// appear on the page as they register, without a reload; she moves one to
// Staff and closes the window; every change is the API's command, recorded
// as events naming admin:alice. A POST made with the session cookie but
// without the page's CSRF token is refused (403). The auditor, with a read
// token, sees everything and can change nothing. Screenshots of every page
// go to shots().
func TestConsole(t *testing.T) {
	ctx := browser(t)
	dir := shots(t)
	r := startRegistrar(t, "", "--config", configWithTokens(t))
	base := r.AdminURL
	alice, err := client.New(base, aliceToken)
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()

	// Signing in: the pages send a stranger to the sign-in form.
	do(t, ctx, "the sign-in page", chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(css("#token")))
	loc := get(t, ctx, "location", chromedp.Location())
	if !strings.Contains(loc, "/login?next=%2Fdevices") {
		t.Errorf("a page without a session went to %s", loc)
	}
	screenshot(t, ctx, dir, "console-login.png")
	do(t, ctx, "a wrong token",
		chromedp.SendKeys(css("#token"), "not-the-token"),
		chromedp.Click(css("#signin")),
		chromedp.WaitVisible(css("#login-error")))
	signIn(t, ctx, base, aliceToken)
	do(t, ctx, "the autoregistration page", chromedp.WaitVisible(css("#open-form")))
	user := get(t, ctx, "user", chromedp.Text(css("#user")))
	if user != "alice" {
		t.Errorf("signed in as %q", user)
	}
	screenshot(t, ctx, dir, "console-autoreg-closed.png")

	// A change with the cookie but without the CSRF token: 403, nothing done.
	if got := fetchStatus(t, ctx, "POST", "/v1/autoreg/open", `{"reason":"forged"}`, false); got != 403 {
		t.Errorf("POST without the CSRF token: %d, want 403", got)
	}
	if st, err := alice.Status(bg); err != nil || st.Open {
		t.Fatalf("a forged open opened a window: %+v %v", st, err)
	}

	// What stops a window from opening is said, and the button waits: the
	// page follows the change made elsewhere (here through the API).
	if _, err := alice.SetSecurity(bg, "mixed"); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "a problem blocks opening",
		waitJS(`document.querySelector('#problem') !== null && document.querySelector('#problem').textContent.includes('mixed')`),
		waitJS(`document.querySelector('#open-window').disabled`))
	if _, err := alice.SetSecurity(bg, "nonsecure"); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "the problem is gone",
		waitJS(`document.querySelector('#problem') === null && !document.querySelector('#open-window').disabled`))

	// Open a window from the form.
	do(t, ctx, "open a window",
		chromedp.SendKeys(css("#open-reason"), "console batch, ticket 77"),
		js(`document.querySelector("#open-max").value = "20"`),
		chromedp.Click(css("#open-window")),
		chromedp.WaitVisible(css("#close-form")),
		waitJS(`document.querySelector('#state-value').textContent === 'OPEN'`),
		waitJS(`/^\d+:\d\d$/.test(document.querySelector('#left-value').textContent)`),
	)
	// The page is not reloaded from here on: a marker in its memory stays.
	do(t, ctx, "mark the page", js(`window.__kept = 'yes'`))

	// Phones register while the page looks: they appear live.
	sim := exec.Command(bin(t, "phonesim"), "--sccp", r.SCCP, "--protocol", "sccp", "--phones", "6",
		"--models", "7961,7941,7902", "--seed", "21", "--hold", "2m")
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Process.Kill(); _ = sim.Wait() })
	do(t, ctx, "phones appear on the autoregistration page",
		waitJS(`document.querySelectorAll('#window-phones tbody tr td.mono a').length === 6`),
		waitJS(`document.querySelector('#regs-value').textContent === '6 / 20'`),
		waitJS(`window.__kept === 'yes'`))
	screenshot(t, ctx, dir, "console-autoreg-open.png")

	// The devices page, then more phones while it is shown.
	do(t, ctx, "the devices page",
		chromedp.Navigate(base+"/devices"),
		chromedp.WaitVisible(css(`body[data-ready="true"]`)),
		waitJS(`document.querySelectorAll('#devices tbody tr.click').length === 6`),
		js(`window.__kept = 'yes'`))
	sim2 := exec.Command(bin(t, "phonesim"), "--sccp", r.SCCP, "--protocol", "sccp", "--phones", "3",
		"--models", "7970,7960", "--seed", "22", "--hold", "2m")
	if err := sim2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim2.Process.Kill(); _ = sim2.Wait() })
	do(t, ctx, "new phones appear on the devices page, marked",
		waitJS(`document.querySelectorAll('#devices tbody tr.click').length === 9`),
		waitJS(`document.querySelectorAll('#devices tbody tr.fresh').length === 3`),
		waitJS(`document.querySelector('#count').textContent === '1–9 of 9 devices'`),
		waitJS(`window.__kept === 'yes'`))

	// Search, filter and sort through the API.
	do(t, ctx, "filter by model",
		choose("#f-model", "7970"),
		waitJS(`document.querySelectorAll('#devices tbody tr.click').length === 2`),
		choose("#f-model", ""),
		waitJS(`document.querySelectorAll('#devices tbody tr.click').length === 9`),
		chromedp.Click(css(`th[data-sort="dn"]`)),
		waitJS(`document.querySelector('#devices tbody tr.click td:nth-child(4)').textContent === '1000'`),
		chromedp.Click(css(`th[data-sort="dn"]`)),
		waitJS(`document.querySelector('#devices tbody tr.click td:nth-child(4)').textContent === '1008'`),
		chromedp.Click(css(`th[data-sort="name"]`)),
		waitJS(`document.querySelector('th[data-sort="name"]').getAttribute('aria-sort') === 'ascending'`))
	screenshot(t, ctx, dir, "console-devices.png")

	// Move the phone with DN 1000 to Staff from its drawer.
	devs, err := alice.QueryDevices(bg, api.DeviceQuery{Sort: "dn", Limit: 1})
	if err != nil || len(devs.Devices) != 1 {
		t.Fatalf("devices: %+v %v", devs, err)
	}
	moved := devs.Devices[0].Name
	do(t, ctx, "move "+moved+" to Staff",
		chromedp.Click(css(fmt.Sprintf(`#devices tr[data-name="%s"]`, moved))),
		chromedp.WaitVisible(css("#move-form")),
		waitJS(`document.querySelectorAll('#history li').length >= 1`),
		js(`document.querySelector("#move-pool").value = "Staff"`),
		chromedp.Click(css("#move")),
		waitJS(`document.querySelector('#detail-pool').textContent === 'Staff'`),
		waitJS(`[...document.querySelectorAll('#history li .what')].some(e => e.textContent.startsWith('Reconfigured: pool Staff'))`))
	screenshot(t, ctx, dir, "console-device.png")
	// Another DN, from the same drawer.
	do(t, ctx, "give "+moved+" DN 2001",
		chromedp.SendKeys(css("#new-dn"), "2001"),
		chromedp.Click(css("#change-dn")),
		waitJS(`[...document.querySelectorAll('#detail dd')].some(e => e.textContent === '2001')`),
		waitJS(`[...document.querySelectorAll('#history li .what')].some(e => e.textContent.startsWith('Reconfigured: DN 2001'))`))
	if d, err := alice.Device(bg, moved); err != nil || d.Pool != "Staff" || d.DN != "2001" {
		t.Errorf("%s after the move and the new DN: %+v %v", moved, d, err)
	}

	// Close the window.
	do(t, ctx, "close the window",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css("#close-form")),
		chromedp.SendKeys(css("#close-reason"), "batch done"),
		chromedp.Click(css("#close-window")),
		chromedp.WaitVisible(css("#open-form")),
		waitJS(`document.querySelector('#state-value').textContent === 'CLOSED'`))
	if st, err := alice.Status(bg); err != nil || st.Open || st.Devices != 9 {
		t.Errorf("after closing: %+v %v", st, err)
	}

	// Delete a device: the button asks again before it deletes.
	gone := devs.Devices[0].Name
	if second, err := alice.QueryDevices(bg, api.DeviceQuery{Sort: "dn", Limit: 1}); err == nil && len(second.Devices) == 1 {
		gone = second.Devices[0].Name // the lowest DN now that the first has 2001
	}
	do(t, ctx, "delete "+gone,
		chromedp.Navigate(base+"/devices?selected="+gone),
		chromedp.WaitVisible(css("#delete-form")),
		chromedp.Click(css("#delete")),
		chromedp.WaitVisible(css("#delete-confirm")),
		chromedp.Click(css("#delete-confirm")),
		waitJS(`document.querySelector('#count').textContent === '1–8 of 8 devices'`),
		waitJS(`document.querySelector('#drawer').hidden`))
	if _, err := alice.Device(bg, gone); client.CodeOf(err) != api.CodeNotFound {
		t.Errorf("%s after the delete: %v", gone, err)
	}

	// A SIP phone's digest credentials, from its drawer: issued by a
	// rotation (a device added by hand has none), then shown.
	const sipPhone = "SEP0000000051AB"
	if _, err := alice.ProvisionDevice(bg, api.ProvisionDevice{Name: sipPhone, Model: "8961", Protocol: "sip", DN: "2050"}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "rotate "+sipPhone+"'s credentials",
		chromedp.Navigate(base+"/devices?selected="+sipPhone),
		chromedp.WaitVisible(css("#credentials-form")),
		chromedp.Click(css("#rotate")),
		waitJS(`[...document.querySelectorAll('#history li .what')].some(e => e.textContent === 'Digest credentials rotated')`),
		waitJS(`[...document.querySelectorAll('#detail dd')].some(e => e.textContent === 'SIP digest')`),
		chromedp.Click(css("#show-credentials")),
		waitJS(`document.querySelector('#credentials-form .hint').textContent.startsWith('User `+sipPhone+`, password ')`))
	if cr, err := alice.Credentials(bg, sipPhone); err != nil || cr.Status != "active" || len(cr.Password) != 16 {
		t.Errorf("%s's credentials after the console's rotation: %+v %v", sipPhone, cr, err)
	}

	// The other pages.
	do(t, ctx, "the cluster page", chromedp.Navigate(base+"/cluster"), chromedp.WaitVisible(css(`body[data-ready="true"]`)),
		waitJS(`document.querySelectorAll('#pools tbody tr').length === 3`),
		waitJS(`[...document.querySelectorAll('#callmanagers tbody tr')].some(r => r.textContent.includes('up, '))`))
	// The cluster is edited from its page: Device Defaults for a model, a
	// CallManager added then deleted, a row clicked fills its form.
	do(t, ctx, "Device Defaults for the 7970",
		chromedp.SendKeys(css("#dd-form-model"), "7970"),
		chromedp.SendKeys(css("#dd-form-load_sccp"), "SCCP70.9-4-2SR3-2S"),
		choose("#dd-form-pool", "Staff"),
		chromedp.Click(css("#dd-form-save")),
		waitJS(`[...document.querySelectorAll('#device-defaults tbody tr')].some(r => r.textContent.includes('SCCP70.9-4-2SR3-2S') && r.textContent.includes('Staff'))`))
	do(t, ctx, "add CM3",
		chromedp.SendKeys(css("#cm-form-name"), "CM3"),
		chromedp.SendKeys(css("#cm-form-host"), "10.1.1.3"),
		chromedp.SendKeys(css("#cm-form-sccp_port"), "2003"),
		chromedp.Click(css("#cm-form-save")),
		waitJS(`[...document.querySelectorAll('#callmanagers tbody tr')].some(r => r.textContent.includes('10.1.1.3SCCP 2003'))`))
	c, err := alice.Cluster(bg)
	if err != nil {
		t.Fatal(err)
	}
	var dd, cm3 bool
	for _, d := range c.DeviceDefaults {
		dd = dd || (d.Model == "7970" && d.LoadSCCP == "SCCP70.9-4-2SR3-2S" && d.Pool == "Staff")
	}
	for _, m := range c.CallManagers {
		cm3 = cm3 || (m.Name == "CM3" && m.Host == "10.1.1.3" && m.SCCPPort == 2003 && !m.AutoregEnabled)
	}
	if !dd || !cm3 {
		t.Errorf("after the cluster page's changes: 7970 defaults %v, CM3 %v: %+v", dd, cm3, c)
	}
	if got := get(t, ctx, "partitions", chromedp.Text(css("#partitions"))); got != "Emergency, Internal, PSTN" {
		t.Errorf("partitions shown as %q", got)
	}
	do(t, ctx, "a pool's row fills its form",
		js(`[...document.querySelectorAll('#pools tbody tr')].find(r => r.textContent.startsWith('Staff')).click()`),
		waitJS(`document.querySelector('#pool-form-name').value === 'Staff' && document.querySelector('#pool-form-css').value === 'Staff'`))
	screenshot(t, ctx, dir, "console-cluster.png")
	do(t, ctx, "delete CM3",
		js(`[...document.querySelectorAll('#callmanagers tbody tr')].find(r => r.textContent.startsWith('CM3')).querySelector('button.danger').click()`),
		waitJS(`[...document.querySelectorAll('#callmanagers tbody tr')].find(r => r.textContent.startsWith('CM3')).querySelector('button.danger').classList.contains('confirm')`),
		js(`[...document.querySelectorAll('#callmanagers tbody tr')].find(r => r.textContent.startsWith('CM3')).querySelector('button.danger').click()`),
		waitJS(`![...document.querySelectorAll('#callmanagers tbody tr')].some(r => r.textContent.startsWith('CM3'))`))
	do(t, ctx, "the audit page", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(css(`body[data-ready="true"]`)),
		waitJS(`document.querySelectorAll('#windows tbody tr').length === 1`),
		waitJS(`document.querySelector('#report-link') !== null`))
	screenshot(t, ctx, dir, "console-audit.png")
	do(t, ctx, "the compliance report", chromedp.Navigate(base+"/audit/report"))
	report := get(t, ctx, "report", chromedp.Text(css("body")))
	if !strings.Contains(report, "W1") {
		t.Errorf("the compliance report does not show W1:\n%.500s", report)
	}

	// Every change is the API's, recorded as made by admin:alice.
	var events []struct{ Type, Actor string }
	for _, line := range strings.Split(strings.TrimSpace(r.replay(t, "events", "--format", "jsonl",
		"--type", "autoregistration.*,device.reconfigured,device.deleted")), "\n") {
		var e struct{ Type, Actor string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	want := []struct{ Type, Actor string }{
		{"autoregistration.window_opened", "admin:alice"},
		{"device.reconfigured", "admin:alice"},
		{"device.reconfigured", "admin:alice"},
		{"autoregistration.window_closed", "admin:alice"},
		{"device.deleted", "admin:alice"},
	}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("events: %v, want %v", events, want)
	}

	// Sign out: the session is gone.
	do(t, ctx, "sign out", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#signout")),
		chromedp.Click(css("#signout")), chromedp.WaitVisible(css("#token")))
	if got := fetchStatus(t, ctx, "GET", "/v1/status", "", false); got != 401 {
		t.Errorf("GET /v1/status after signing out: %d, want 401", got)
	}

	// The auditor's read token: everything visible, nothing changeable.
	signIn(t, ctx, base, auditorToken)
	do(t, ctx, "read-only autoregistration page", chromedp.WaitVisible(css("#readonly")))
	disabled := get(t, ctx, "disabled", chromedp.Evaluate[bool](`document.querySelector('#open-window').disabled && document.querySelector('#protocol-sip').disabled`))
	if !disabled {
		t.Error("the read-only page lets the auditor open a window or switch the protocol")
	}
	screenshot(t, ctx, dir, "console-readonly.png")
	if got := fetchStatus(t, ctx, "POST", "/v1/autoreg/open", `{"reason":"auditor"}`, true); got != 403 {
		t.Errorf("the auditor's POST with the CSRF token: %d, want 403", got)
	}
	do(t, ctx, "read-only device drawer",
		chromedp.Navigate(base+"/devices?selected="+moved),
		chromedp.WaitVisible(css("#move-form")))
	disabled = get(t, ctx, "disabled", chromedp.Evaluate[bool](`['#move', '#change-dn', '#delete'].every(s => document.querySelector(s).disabled)`))
	if !disabled {
		t.Error("the read-only drawer lets the auditor change a device")
	}
	do(t, ctx, "read-only cluster page",
		chromedp.Navigate(base+"/cluster"), chromedp.WaitVisible(css(`body[data-ready="true"]`)))
	disabled = get(t, ctx, "disabled", chromedp.Evaluate[bool](`['#cm-form-save', '#dd-form-save', '#pool-form-save', '#range-form-save', '#dd-form-model'].every(s => document.querySelector(s).disabled) && [...document.querySelectorAll('#callmanagers button.danger')].every(b => b.disabled)`))
	if !disabled {
		t.Error("the read-only cluster page lets the auditor change the cluster")
	}
	if st, err := alice.Status(bg); err != nil || st.Open {
		t.Errorf("the auditor opened a window: %+v %v", st, err)
	}
}

// The pictures of the console in docs/: a registrar after a day's batches
// (an SCCP batch in one window, a SIP batch in a second, some phones moved
// to Staff, some gone), on each page. It runs only when asked for, with
// AUTOREG_SCREENSHOTS=DIR (`AUTOREG_SCREENSHOTS=$PWD/docs go test -run
// TestConsoleScreenshots ./tests/e2e/` refreshes docs/console-*.png), and
// checks that the pages show that state.
func TestConsoleScreenshots(t *testing.T) {
	if os.Getenv("AUTOREG_SCREENSHOTS") == "" {
		t.Skip("set AUTOREG_SCREENSHOTS=DIR to take the console's pictures for docs/")
	}
	ctx := browser(t)
	dir := shots(t)
	r := startRegistrar(t, "", "--config", configWithTokens(t))
	alice, err := client.New(r.AdminURL, aliceToken)
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	must := func(_ api.Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sim := func(hold bool, args ...string) {
		t.Helper()
		all := append([]string{"--sccp", r.SCCP, "--sip", r.SIP, "--summary"}, args...)
		if !hold {
			if out, err := exec.Command(bin(t, "phonesim"), all...).CombinedOutput(); err != nil {
				t.Fatalf("phonesim: %v\n%s", err, out)
			}
			return
		}
		cmd := exec.Command(bin(t, "phonesim"), append(all, "--hold", "5m")...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	// The SCCP batch: 18 phones stay, 6 leave (their connections close).
	must(alice.Open(bg, api.OpenWindow{Reason: "3rd floor, SCCP batch (ticket 4711)", For: "30m", Max: 50}))
	sim(true, "--protocol", "sccp", "--phones", "18", "--models", "7961,7941,7970,7902", "--seed", "101")
	sim(false, "--protocol", "sccp", "--phones", "6", "--models", "7960,7940", "--seed", "102")
	waitDevices := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, err := alice.Status(bg)
			if err == nil && st.Devices == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d devices, want %d (%v)", st.Devices, n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitDevices(24)
	must(alice.Close(bg, "SCCP batch done"))
	must(alice.SetProtocol(bg, "sip"))
	must(alice.Open(bg, api.OpenWindow{Reason: "3rd floor, SIP batch (ticket 4711)", For: "30m", Max: 50}))
	sim(true, "--protocol", "sip", "--phones", "12", "--models", "7961,7941", "--seed", "103")
	waitDevices(36)
	devs, err := alice.QueryDevices(bg, api.DeviceQuery{Sort: "dn", Limit: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs.Devices[:5] {
		must(alice.ReconfigureDevice(bg, d.Name, api.ReconfigureDevice{Pool: "Staff"}))
	}

	signIn(t, ctx, r.AdminURL, aliceToken)
	do(t, ctx, "the autoregistration page", waitJS(`document.querySelectorAll('#window-phones tbody tr td.mono a').length === 10`))
	screenshot(t, ctx, dir, "console-autoreg.png")
	do(t, ctx, "the devices page", chromedp.Navigate(r.AdminURL+"/devices?limit=25"),
		chromedp.WaitVisible(css(`body[data-ready="true"]`)),
		waitJS(`document.querySelector('#count').textContent === '1–25 of 36 devices'`),
		waitJS(`document.querySelectorAll('#devices .badge.off').length > 0`))
	screenshot(t, ctx, dir, "console-devices.png")
	do(t, ctx, "a device", chromedp.Click(css(fmt.Sprintf(`#devices tr[data-name="%s"]`, devs.Devices[0].Name))),
		waitJS(`document.querySelectorAll('#history li').length >= 2`))
	screenshot(t, ctx, dir, "console-device.png")
	must(alice.Close(bg, "SIP batch done"))
	do(t, ctx, "the audit page", chromedp.Navigate(r.AdminURL+"/audit"), chromedp.WaitVisible(css(`body[data-ready="true"]`)),
		waitJS(`document.querySelectorAll('#windows tbody tr').length === 2`))
	screenshot(t, ctx, dir, "console-audit.png")
	do(t, ctx, "the cluster page", chromedp.Navigate(r.AdminURL+"/cluster"), chromedp.WaitVisible(css(`body[data-ready="true"]`)),
		waitJS(`[...document.querySelectorAll('#callmanagers tbody tr')].some(r => r.textContent.includes('up, '))`),
		js(`[...document.querySelectorAll('#pools tbody tr')].find(r => r.textContent.startsWith('Staff')).click()`),
		waitJS(`document.querySelector('#pool-form-name').value === 'Staff'`))
	screenshot(t, ctx, dir, "console-cluster.png")
}
