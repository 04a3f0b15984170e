// Storefront demo shop: the Connect protocol over fetch, no libraries.
"use strict";

window.shopfront = { events: [] };
let cfg = null;
let watch = null; // AbortController of the open availability stream
let current = null; // the product shown in the detail panel

const $ = (id) => document.getElementById(id);

function showError(err) {
  $("error").textContent = err ? String(err.message || err) : "";
}

// unary calls one Connect unary RPC with a JSON body.
async function unary(base, procedure, body, token) {
  const headers = { "Content-Type": "application/json", "Connect-Protocol-Version": "1" };
  if (token) headers.Authorization = "Bearer " + token;
  const resp = await fetch(base + "/" + procedure, { method: "POST", headers, body: JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    throw new Error((data.code || resp.status) + ": " + (data.message || resp.statusText));
  }
  return data;
}

// stream calls a Connect server-streaming RPC and hands each message to
// onMessage as it arrives. Frames are a flag byte, a 4-byte big-endian
// length and the JSON message; flag 2 ends the stream, maybe with an error.
async function stream(base, procedure, body, onMessage, signal) {
  const json = new TextEncoder().encode(JSON.stringify(body));
  const frame = new Uint8Array(5 + json.length);
  new DataView(frame.buffer).setUint32(1, json.length);
  frame.set(json, 5);
  const resp = await fetch(base + "/" + procedure, {
    method: "POST",
    headers: { "Content-Type": "application/connect+json", "Connect-Protocol-Version": "1" },
    body: frame,
    signal,
  });
  if (!resp.ok) {
    const data = await resp.json().catch(() => ({}));
    throw new Error((data.code || resp.status) + ": " + (data.message || resp.statusText));
  }
  const reader = resp.body.getReader();
  let buf = new Uint8Array(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf);
    joined.set(value, buf.length);
    buf = joined;
    while (buf.length >= 5) {
      const flags = buf[0];
      const len = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
      if (buf.length < 5 + len) break;
      const msg = JSON.parse(new TextDecoder().decode(buf.subarray(5, 5 + len)) || "{}");
      buf = buf.slice(5 + len);
      if (flags & 2) {
        if (msg.error) throw new Error(msg.error.code + ": " + msg.error.message);
        return;
      }
      onMessage(msg);
    }
  }
}

function price(m) {
  if (!m) return "";
  return (Number(m.amountMinor || 0) / 100).toFixed(2) + " " + (m.currencyCode || "");
}

async function track(name, productId) {
  const event = {
    eventId: crypto.randomUUID(),
    eventName: name,
    userId: "shopfront",
    occurredAt: new Date().toISOString(),
    productId,
  };
  const entry = { name, productId, ok: false };
  window.shopfront.events.push(entry);
  try {
    await unary(cfg.analytics, "analytics.v1.AnalyticsService/TrackEvent", { event });
    entry.ok = true;
  } catch (err) {
    entry.error = String(err.message || err);
    showError(err);
  }
}

async function search(query) {
  const resp = await unary(cfg.catalogue, "catalogue.v1.CatalogueService/SearchProducts", { query, pageSize: 20 });
  const list = $("products");
  list.replaceChildren();
  for (const p of resp.products || []) {
    const li = document.createElement("li");
    li.dataset.productId = p.id;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = p.name + " — " + price(p.price) + " ";
    const stock = document.createElement("span");
    stock.className = "stock";
    stock.textContent = String(p.stockQty || 0);
    li.append(name, stock);
    li.addEventListener("click", () => open(p).catch(showError));
    list.append(li);
  }
}

async function open(p) {
  current = p;
  $("detail").hidden = false;
  $("detail-name").textContent = p.name;
  $("detail-price").textContent = price(p.price);
  $("available").textContent = String(p.stockQty || 0);
  $("order-id").textContent = "";
  $("order-status").textContent = "";
  if (watch) watch.abort();
  watch = new AbortController();
  const mine = watch;
  stream(cfg.catalogue, "catalogue.v1.CatalogueService/WatchAvailability", { productIds: [p.id] }, (msg) => {
    if (msg.productId === current.id) $("available").textContent = String(msg.available || 0);
  }, mine.signal).catch((err) => {
    if (!mine.signal.aborted) showError(err);
  });
  await track("product_viewed", p.id);
}

async function placeOrder() {
  const quantity = Number($("quantity").value) || 1;
  const resp = await unary(cfg.orders, "orders.v1.OrderService/PlaceOrder", {
    idempotencyKey: crypto.randomUUID(),
    items: [{ productId: current.id, quantity }],
  }, cfg.token);
  $("order-id").textContent = resp.order.id;
  $("order-status").textContent = (resp.order.status || "").replace("ORDER_STATUS_", "");
}

async function main() {
  cfg = await (await fetch("/config.json")).json();
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    showError(null);
    search($("search").value).catch(showError);
  });
  $("add-to-cart").addEventListener("click", () => track("add_to_cart", current.id));
  $("place-order").addEventListener("click", () => {
    showError(null);
    placeOrder().catch(showError);
  });
  await search("");
  document.body.dataset.ready = "true";
}

main().catch(showError);
