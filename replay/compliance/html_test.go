package compliance_test

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/replay/compliance"
)

// richHistory has findings of every severity and several windows: a long
// Monday window with a mixed batch and a model without firmware load; a
// window whose reason holds markup, during which a catch-all pattern makes
// the autoregistration CSS dial out; rogue knocks; a window left open.
func richHistory(t *testing.T) (*hist, time.Time) {
	h := newHist(t, monday)
	h.open("bulk add, ticket 42", 0)
	h.batch(12, "7961", domain.SCCP)
	h.admin(domain.SetProtocol{Protocol: domain.SIP, By: "admin:alice"})
	h.batch(3, "7961", domain.SIP)
	h.batch(2, "7942", domain.SIP)
	h.step(50 * time.Minute)
	h.close()
	for range 3 {
		h.step(20 * time.Minute)
		h.regAs("SEP00000000DEAD", "7961", domain.SCCP, domain.RejectWindowClosed)
	}
	h.step(2 * time.Hour)
	h.open(`<b>"rush" & go</b><script>alert(1)</script>`, 30*time.Minute)
	h.batch(5, "7941", domain.SIP)
	h.admin(domain.AddRoutePattern{Pattern: "9.!", Partition: "Internal", By: "admin:alice"})
	h.batch(4, "7941", domain.SIP)
	h.step(5 * time.Minute)
	h.close()
	h.step(3 * time.Hour)
	h.open("left open", 0)
	h.batch(6, "7902", domain.SCCP)
	return h, h.at(90 * time.Minute)
}

func TestHTMLReport(t *testing.T) {
	h, until := richHistory(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	code, stdout, errs := h.run("report", "--format", "html", "-o", file, "--until", until.Format(time.RFC3339))
	if code != compliance.ExitFindings || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, errs)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	// One self-contained file: no script, nothing fetched.
	for _, bad := range []string{"<script", "src=", "http://", "https://", "@import", "url(", "<link"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	// Everything is escaped.
	if strings.Contains(page, `<b>"rush"`) || !strings.Contains(page, "&lt;b&gt;&#34;rush&#34; &amp; go&lt;/b&gt;&lt;script&gt;") {
		t.Error("the window's reason is not escaped")
	}
	for _, want := range []string{"<svg", `class="win critical"`, `class="sccp"`, `class="sip"`, `class="switch"`,
		`class="max"`, "autoreg-css-reaches-external", "protocol-mixed-batch", "still open", "<style>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page has no %q", want)
		}
	}

	png := screenshot(t, file)
	checkNotBlank(t, png)
	if keep := os.Getenv("COMPLIANCE_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(png)
		os.WriteFile(keep, data, 0o644)
		os.WriteFile(strings.TrimSuffix(keep, filepath.Ext(keep))+".html", b, 0o644)
	}
}

// screenshot renders an HTML file in headless Chromium and returns the PNG.
// Without Chromium the test is skipped, except on CI (CI=true) where it fails.
func screenshot(t *testing.T, file string) string {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (CI needs it for the HTML report test): apt-get install -y chromium")
		}
		t.Skip("chromium is not installed: apt-get install -y chromium")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+out, "--window-size=1200,1600", "file://"+file)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, msg)
	}
	return out
}

// checkNotBlank decodes the screenshot and checks that something was
// drawn: many colours, much that is not the background, and the colours of
// the chart (a critical window, SCCP and SIP ticks).
func checkNotBlank(t *testing.T, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	bounds := img.Bounds()
	if bounds.Dx() < 1000 || bounds.Dy() < 1000 {
		t.Fatalf("screenshot %v", bounds)
	}
	counts := map[color.RGBA]int{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			counts[rgba(img, x, y)]++
		}
	}
	total := bounds.Dx() * bounds.Dy()
	var bg color.RGBA
	for c, n := range counts {
		if n > counts[bg] {
			bg = c
		}
	}
	drawn := total - counts[bg]
	near := func(want color.RGBA) int {
		n := 0
		for c, k := range counts {
			if absDiff(c.R, want.R) <= 16 && absDiff(c.G, want.G) <= 16 && absDiff(c.B, want.B) <= 16 {
				n += k
			}
		}
		return n
	}
	critical, sccp, sip := near(color.RGBA{0xc6, 0x28, 0x28, 0xff}), near(color.RGBA{0x00, 0x89, 0x7b, 0xff}), near(color.RGBA{0x8e, 0x24, 0xaa, 0xff})
	t.Logf("%v: %d colours, %.1f%% drawn over background %v; critical %d, SCCP %d, SIP %d pixels",
		bounds, len(counts), 100*float64(drawn)/float64(total), bg, critical, sccp, sip)
	if len(counts) < 64 {
		t.Errorf("only %d colours: the page looks blank", len(counts))
	}
	if float64(drawn) < 0.15*float64(total) {
		t.Errorf("only %d of %d pixels differ from the background: the page looks blank", drawn, total)
	}
	if critical < 50 || sccp < 20 || sip < 20 {
		t.Errorf("the chart's colours are missing: critical %d, SCCP %d, SIP %d pixels", critical, sccp, sip)
	}
}

func rgba(img image.Image, x, y int) color.RGBA {
	r, g, b, a := img.At(x, y).RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

func absDiff(a, b uint8) uint8 {
	if a > b {
		return a - b
	}
	return b - a
}
