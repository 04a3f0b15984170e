package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

// startShopfront builds tools/shopfront and serves the shop page on addr
// against the stack's HTTP ports, with a customer token of the suite's
// signer. It stops when the test ends.
func startShopfront(t *testing.T, st *stack, addr, customer string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "shopfront")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./tools/shopfront")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build shopfront: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-addr", addr,
		"-catalogue", "http://"+st.catalogue.http, "-orders", "http://"+st.orders.http, "-analytics", "http://"+st.analytics.http,
		"-token", st.token(t, customer, "customer"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	eventually(t, 10*time.Second, "shopfront serves", func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/healthz") //nolint:noctx // bounded by eventually
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// browser returns a headless Chromium tab, closed when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (make test-e2e installs it with e2e/install-chromium.sh): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the suite may run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// No timeout on the tab's first context: it would stop the browser.
	// Each wait is bounded instead, and the test's own deadline ends all.
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// Scenario 12: a person in a real browser searches, opens a product, sees
// its live availability, adds it to the cart and places an order; the page
// shows the order id and the availability drops; analytics counts the view.
// Another origin is refused by the browser (CORS).
func TestShopInARealBrowser(t *testing.T) {
	st := needStack(t)
	word := "browser" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	c := clientsOf(t, st)
	created, err := c.catalogue.CreateProduct(t.Context(), &cataloguev1.CreateProductRequest{
		Sku: "E2E-" + strings.ToUpper(word), Name: "Reading lamp " + word, Description: "A lamp for the browser", CategoryId: "e2e",
		Price: &cataloguev1.Money{AmountMinor: 2500, CurrencyCode: "EUR"}, StockQty: 5,
	}, bearer(st.token(t, "e2e-admin", "admin")))
	if err != nil {
		t.Fatal(err)
	}
	p := created.GetProduct()
	startShopfront(t, st, st.shopAddr, "grace")

	ctx := browser(t)
	item := fmt.Sprintf(`#products li[data-product-id=%q]`, p.GetId())
	start := time.Now()
	// Every step finds its element anew in page JavaScript: the page
	// replaces list items as results arrive, and an action holding a node
	// id from an earlier query fails ("Could not find node with given id").
	err = chromedp.Do(ctx,
		chromedp.Navigate(st.shopOrigin+"/"),
		waitShown(`body[data-ready="true"]`),
		typeInto(`#search`, word),
		clickOn(`#search-button`),
		clickOn(item),
		waitShown(`#detail`),
		waitText(`#available`, "5"),
		clickOn(`#add-to-cart`),
		typeInto(`#quantity`, "2"),
		clickOn(`#place-order`),
		waitNonEmpty(`#order-id`),
		// The live stream shows the reservation.
		waitText(`#available`, "3"),
	)
	if err != nil {
		errText, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#error`)))
		t.Fatalf("shop page: %v (page error: %q)", err, errText)
	}
	orderID, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#order-id`)))
	if err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#order-status`)))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if _, err := uuid.Parse(strings.TrimSpace(orderID)); err != nil {
		t.Errorf("order id shown %q is not a uuid", orderID)
	}
	if !strings.Contains(status, "CONFIRMED") {
		t.Errorf("order status shown %q, want CONFIRMED", status)
	}
	shotPath := filepath.Join(t.ArtifactDir(), "order-confirmation.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := stockOf(t, st, p.GetId()); got != 3 {
		t.Errorf("stock after the browser's order = %d, want 3", got)
	}
	eventually(t, 10*time.Second, "analytics counts the page's view and add to cart", func() (bool, string) {
		s := statsOf(t, st, c, p.GetId())
		return s.GetViews() >= 1 && s.GetAddToCarts() >= 1 && s.GetOrders() == 1, s.String()
	})
	reportf("12 real browser", "order shown; availability 5 → 3; view counted", "Chromium: search → order %s shown %v after load; screenshot %s", strings.TrimSpace(orderID)[:8], took.Round(100*time.Millisecond), shotPath)

	// The same page from an origin the services don't allow: the browser
	// refuses the responses, the page shows an error and no products.
	otherAddr, err := freeLoopbackAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	startShopfront(t, st, otherAddr, "grace")
	ctx2 := browser(t)
	if err := chromedp.Do(ctx2, chromedp.Navigate("http://"+otherAddr+"/"), waitNonEmpty(`#error`)); err != nil {
		t.Fatalf("page on a foreign origin: %v", err)
	}
	errText, err := chromedp.Run(ctx2, chromedp.Text(chromedp.CSS(`#error`)))
	if err != nil {
		t.Fatal(err)
	}
	items, err := chromedp.Run(ctx2, chromedp.Evaluate[int](`document.querySelectorAll("#products li").length`))
	if err != nil {
		t.Fatal(err)
	}
	if items != 0 {
		t.Errorf("page on a foreign origin listed %d products; CORS should have refused the responses", items)
	}
	reportf("12 real browser", "foreign origin refused", "page on %s: no products, error %q", otherAddr, errText)
}

// waitText waits until the element's text is want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.textContent.trim() === %q; })()`, sel, want),
		chromedp.WithPollingTimeout(20*time.Second))
}

// shown is a JavaScript test that sel matches a rendered, visible element.
func shown(sel string) string {
	return fmt.Sprintf(`document.querySelector(%q)?.checkVisibility?.() === true`, sel)
}

// waitShown waits until sel matches a visible element.
func waitShown(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](shown(sel), chromedp.WithPollingTimeout(20*time.Second))
}

// clickOn waits until sel matches a visible element and clicks it, in one
// evaluation, so the element clicked is the one just found.
func clickOn(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { if (!(%s)) return false; document.querySelector(%q).click(); return true; })()`, shown(sel), sel),
		chromedp.WithPollingTimeout(20*time.Second))
}

// typeInto waits until sel matches a visible input and sets its value the
// way typing does, with an input event.
func typeInto(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { if (!(%s)) return false; const e = document.querySelector(%q); e.focus(); e.value = %q; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`, shown(sel), sel, value),
		chromedp.WithPollingTimeout(20*time.Second))
}

// waitNonEmpty waits until the element has text.
func waitNonEmpty(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.textContent.trim() !== ""; })()`, sel),
		chromedp.WithPollingTimeout(20*time.Second))
}
