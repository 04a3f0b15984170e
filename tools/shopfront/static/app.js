// Storefront demo shop: the three services over the Connect protocol with
// plain fetch, no libraries. protojson names fields in camelCase, writes
// int64 as a string and leaves zero values out.
"use strict";

// For tests: every TrackEvent sent, and its result once it is known.
window.shopfront = { events: [] };

const $ = (id) => document.getElementById(id);

const state = {
  cfg: null, // /config.json
  current: null, // the product in the detail panel
  watch: null, // AbortController of the open availability stream
  searchSeq: 0, // answers to older searches are dropped
  order: null, // {key, productId, quantity}: reused when a failed order is retried
};

// ConnectError is a Connect error: a code such as "not_found" and a message.
class ConnectError extends Error {
  constructor(code, message) {
    super(message ? code + ": " + message : code);
    this.name = "ConnectError";
    this.code = code;
  }
}

// codeFromHTTP is the Connect code for an HTTP status without a Connect error body.
function codeFromHTTP(status) {
  const codes = {
    400: "internal", 401: "unauthenticated", 403: "permission_denied", 404: "unimplemented",
    429: "unavailable", 502: "unavailable", 503: "unavailable", 504: "unavailable",
  };
  return codes[status] || "unknown";
}

function showError(err) {
  if (err && err.name === "AbortError") return;
  $("error").textContent = err ? String(err.message || err) : "";
}

function headers(contentType, token) {
  const h = { "Content-Type": contentType, "Connect-Protocol-Version": "1" };
  if (token) h.Authorization = "Bearer " + token;
  return h;
}

// unary calls a Connect unary RPC with a JSON body and returns the response message.
async function unary(base, procedure, request, { token, signal } = {}) {
  const resp = await fetch(base + "/" + procedure, {
    method: "POST",
    headers: headers("application/json", token),
    body: JSON.stringify(request),
    signal,
  });
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = null;
  }
  if (!resp.ok) {
    throw new ConnectError((data && data.code) || codeFromHTTP(resp.status),
      (data && data.message) || "HTTP " + resp.status);
  }
  if (data === null) throw new ConnectError("internal", "response is not JSON");
  return data;
}

// envelope frames one message for a Connect stream: a flag byte (0), the
// length as 4 bytes big-endian, the JSON.
function envelope(message) {
  const json = new TextEncoder().encode(JSON.stringify(message));
  const frame = new Uint8Array(5 + json.length);
  new DataView(frame.buffer).setUint32(1, json.length, false);
  frame.set(json, 5);
  return frame;
}

function concat(a, b) {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const maxMessageBytes = 4 << 20;

// serverStream calls a Connect server-streaming RPC and hands each message
// to onMessage as soon as its envelope is complete. The body is read chunk
// by chunk: a chunk may hold several envelopes or part of one, so bytes
// wait in buf until a whole envelope is there. The end-of-stream envelope
// (flag 0x02) ends the call, with its error if it has one.
async function serverStream(base, procedure, request, onMessage, { token, signal } = {}) {
  const resp = await fetch(base + "/" + procedure, {
    method: "POST",
    headers: headers("application/connect+json", token),
    body: envelope(request),
    signal,
  });
  if (!resp.ok) {
    // Connect puts stream errors in the end-of-stream message; a non-200 comes from HTTP itself.
    const data = await resp.json().catch(() => ({}));
    throw new ConnectError(data.code || codeFromHTTP(resp.status), data.message || "HTTP " + resp.status);
  }
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = new Uint8Array(0);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf = concat(buf, value);
      while (buf.length >= 5) {
        const flags = buf[0];
        const length = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(1, false);
        if (length > maxMessageBytes) throw new ConnectError("resource_exhausted", "stream message of " + length + " bytes");
        if (buf.length < 5 + length) break; // the rest of this envelope is still on its way
        const payload = buf.subarray(5, 5 + length);
        buf = buf.subarray(5 + length);
        if (flags & 0x01) throw new ConnectError("internal", "compressed stream message, but none was asked for");
        const msg = length > 0 ? JSON.parse(decoder.decode(payload)) : {};
        if (flags & 0x02) {
          if (msg.error) throw new ConnectError(msg.error.code || "unknown", msg.error.message || "");
          return;
        }
        onMessage(msg);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  throw new ConnectError("unavailable", "stream ended without an end-of-stream message");
}

// sleep waits ms, or less when signal is aborted.
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

// Errors a new attempt cannot fix; anything else (a dropped connection,
// unavailable) reopens the stream after a pause.
const permanent = new Set([
  "invalid_argument", "not_found", "permission_denied", "unauthenticated", "unimplemented", "failed_precondition",
]);

// watchAvailability keeps #available on the product's live number until
// signal is aborted, reopening the stream when it ends or breaks.
async function watchAvailability(productId, signal) {
  let pause = 500;
  while (!signal.aborted) {
    try {
      await serverStream(state.cfg.catalogue, "catalogue.v1.CatalogueService/WatchAvailability", { productIds: [productId] }, (msg) => {
        pause = 500;
        if (msg.productId === productId && !signal.aborted) {
          $("available").textContent = String(Number(msg.available || 0));
        }
      }, { signal });
    } catch (err) {
      if (signal.aborted) return;
      showError(err);
      if (err instanceof ConnectError && permanent.has(err.code)) return;
    }
    await sleep(pause, signal);
    pause = Math.min(pause * 2, 10000);
  }
}

// uuid is crypto.randomUUID, which only secure contexts (https, localhost)
// have, with a fallback for a page served over plain http elsewhere.
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
}

// formatPrice turns a Money (amountMinor, an int64 string) into "€25.00".
function formatPrice(m) {
  if (!m || !m.currencyCode) return "";
  const minor = Number(m.amountMinor || 0);
  try {
    const f = new Intl.NumberFormat(undefined, { style: "currency", currency: m.currencyCode });
    return f.format(minor / 10 ** f.resolvedOptions().maximumFractionDigits);
  } catch {
    return (minor / 100).toFixed(2) + " " + m.currencyCode;
  }
}

// track sends one analytics event and records it in window.shopfront.events.
async function track(eventName, productId) {
  const event = {
    eventId: uuid(),
    eventName,
    userId: state.cfg.user || "",
    occurredAt: new Date().toISOString(),
  };
  if (productId) event.productId = productId;
  const entry = { event, pending: true, ok: false, response: null, error: null };
  window.shopfront.events.push(entry);
  try {
    entry.response = await unary(state.cfg.analytics, "analytics.v1.AnalyticsService/TrackEvent", { event });
    entry.ok = true;
  } catch (err) {
    entry.error = { code: err.code || "unknown", message: String(err.message || err) };
    showError(err);
  } finally {
    entry.pending = false;
  }
  return entry;
}

async function search(query) {
  const seq = ++state.searchSeq;
  const resp = await unary(state.cfg.catalogue, "catalogue.v1.CatalogueService/SearchProducts", { query, pageSize: 20 });
  if (seq !== state.searchSeq) return;
  renderProducts(resp.products || [], Number(resp.totalSize || 0));
}

function renderProducts(products, total) {
  const list = $("products");
  list.replaceChildren();
  for (const p of products) {
    const li = document.createElement("li");
    li.dataset.productId = p.id;
    li.tabIndex = 0;
    if (state.current && state.current.id === p.id) li.classList.add("selected");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = p.name;
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = formatPrice(p.price);
    const stockLabel = document.createElement("span");
    stockLabel.className = "stock-label";
    stockLabel.textContent = "in stock: ";
    const stock = document.createElement("span");
    stock.className = "stock";
    stock.textContent = String(Number(p.stockQty || 0));
    stockLabel.append(stock);
    li.append(name, price, stockLabel);
    li.addEventListener("click", () => select(p));
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        select(p);
      }
    });
    list.append(li);
  }
  const status = $("products-status");
  status.textContent = products.length === 0 ? "No products match." : "Showing " + products.length + " of " + total + ".";
}

function showProduct(p) {
  $("detail-name").textContent = p.name || "";
  $("detail-price").textContent = formatPrice(p.price);
  $("detail-description").textContent = p.description || "";
}

// select opens p in the detail panel: the view is tracked, the previous
// availability stream stops and p's starts.
function select(p) {
  state.current = p;
  for (const li of $("products").children) li.classList.toggle("selected", li.dataset.productId === p.id);
  showProduct(p);
  $("available").textContent = "";
  $("cart-status").textContent = "";
  $("order-id").textContent = "";
  $("order-status").textContent = "";
  $("detail").hidden = false;

  if (state.watch) state.watch.abort();
  state.watch = new AbortController();
  watchAvailability(p.id, state.watch.signal);
  track("product_viewed", p.id);
  // The list may be a little old: show the product as it is now.
  unary(state.cfg.catalogue, "catalogue.v1.CatalogueService/GetProduct", { productId: p.id }).then((resp) => {
    if (state.current === p && resp.product) showProduct(resp.product);
  }).catch(showError);
}

async function addToCart() {
  const p = state.current;
  if (!p) return;
  const entry = await track("add_to_cart", p.id);
  if (entry.ok && state.current === p) $("cart-status").textContent = "Added to cart.";
}

async function placeOrder() {
  const p = state.current;
  if (!p) return;
  const quantity = Number($("quantity").value);
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > 1000) {
    throw new Error("quantity must be a whole number from 1 to 1000");
  }
  if (!state.cfg.token) throw new Error("no token: start shopfront with -token or -signing-key to place orders");
  // A retry of the same order after a failure keeps its idempotency key, so
  // an order whose answer was lost is not placed twice.
  const o = state.order;
  if (!o || o.productId !== p.id || o.quantity !== quantity) {
    state.order = { key: uuid(), productId: p.id, quantity };
  }
  const button = $("place-order");
  button.disabled = true;
  try {
    const resp = await unary(state.cfg.orders, "orders.v1.OrderService/PlaceOrder", {
      idempotencyKey: state.order.key,
      items: [{ productId: p.id, quantity }],
    }, { token: state.cfg.token });
    state.order = null;
    const order = resp.order || {};
    $("order-id").textContent = order.id || "";
    $("order-status").textContent = String(order.status || "").replace(/^ORDER_STATUS_/, "");
  } finally {
    button.disabled = false;
  }
}

// run wraps an event handler: it clears the last error and shows a new one.
function run(fn) {
  return (e) => {
    if (e) e.preventDefault();
    if (!state.cfg) return;
    showError(null);
    fn().catch(showError);
  };
}

async function main() {
  $("search-form").addEventListener("submit", run(() => search($("search").value.trim())));
  $("add-to-cart").addEventListener("click", run(addToCart));
  $("place-order").addEventListener("click", run(placeOrder));

  const resp = await fetch("/config.json", { cache: "no-store" });
  if (!resp.ok) throw new Error("config.json: HTTP " + resp.status);
  state.cfg = await resp.json();
  await search("");
  document.body.dataset.ready = "true";
  $("ready").dataset.ready = "true";
  $("ready").value = "true";
}

main().catch(showError);
