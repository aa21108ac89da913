// Emporium live dashboard: one WebSocket on /api/ws, reconnecting with `since` so nothing
// is missed; the stock table and the sales chart start from the REST API.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const products = new Map(); // id -> {name, sku, stock, reserved, threshold}
  let lastSeq = null, events = 0, retry = 500, salesTimer = null;

  function setStatus(state, text) {
    const el = $("connection");
    el.className = "status " + state;
    el.dataset.state = state;
    el.textContent = text;
  }

  function renderStock() {
    const rows = [...products.entries()].sort((a, b) => a[1].name.localeCompare(b[1].name));
    const body = $("stock");
    body.replaceChildren(...rows.map(([id, p]) => {
      const tr = document.createElement("tr");
      tr.dataset.productId = id;
      if (p.stock !== null && p.stock <= p.threshold) tr.classList.add("low");
      for (const [text, cls] of [[p.name, "name"], [p.sku, "sku"], [p.stock ?? "–", "num stock"], [p.reserved ?? "–", "num reserved"]]) {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = text;
        tr.appendChild(td);
      }
      return tr;
    }));
  }

  function orderEvent(e) {
    const status = e.data.status;
    const kind = e.type === "order.created" ? "created" : status === "cancelled" ? "cancelled" : "updated";
    const li = document.createElement("li");
    li.className = kind;
    li.dataset.orderId = e.id;
    li.dataset.seq = e.seq;
    const cells = [[e.id.slice(-8), "id"], [status, "status"], [e.data.total + " " + e.data.currency, "total"], [new Date(e.at).toLocaleTimeString(), "at"]];
    for (const [text, cls] of cells) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      li.appendChild(span);
    }
    const list = $("orders");
    list.prepend(li);
    while (list.children.length > 200) list.lastChild.remove();
    clearTimeout(salesTimer);
    salesTimer = setTimeout(loadSales, 300);
  }

  function productEvent(e) {
    if (e.type === "product.deleted") { products.delete(e.id); renderStock(); return; }
    const p = products.get(e.id) || { stock: null, reserved: null, threshold: 5 };
    p.name = e.data.name; p.sku = e.data.sku;
    products.set(e.id, p);
    renderStock();
  }

  function stockEvent(e) {
    const p = products.get(e.id);
    if (!p) { loadProduct(e.id); return; }
    p.stock = e.data.stock; p.reserved = e.data.reserved;
    renderStock();
    const tr = document.querySelector(`tr[data-product-id="${e.id}"]`);
    if (tr) { tr.classList.add("flash"); setTimeout(() => tr.classList.remove("flash"), 600); }
  }

  function handle(e) {
    if (e.type === "replay.truncated") return;
    events += 1;
    if (e.seq) { lastSeq = e.seq; $("seq").textContent = e.seq; }
    $("count").textContent = events;
    if (e.type.startsWith("order.")) orderEvent(e);
    else if (e.type.startsWith("product.")) productEvent(e);
    else if (e.type === "stock.changed") stockEvent(e);
  }

  async function loadProduct(id) {
    const r = await fetch(`/api/products/${id}`);
    if (!r.ok) return;
    const p = await r.json();
    products.set(id, { name: p.name, sku: p.sku, stock: p.stock, reserved: p.reserved, threshold: p.low_stock_threshold });
    renderStock();
  }

  async function loadProducts() {
    const r = await fetch("/api/products?limit=100&sort=name");
    if (!r.ok) return;
    for (const p of (await r.json()).items) {
      products.set(p.id, { name: p.name, sku: p.sku, stock: p.stock, reserved: p.reserved, threshold: p.low_stock_threshold });
    }
    renderStock();
  }

  async function loadSales() {
    const r = await fetch("/api/reports/sales-by-category?limit=10");
    if (!r.ok) return;
    const items = (await r.json()).items;
    const svg = $("sales"), ns = "http://www.w3.org/2000/svg";
    const max = Math.max(1, ...items.map((i) => Number(i.revenue)));
    const full = svg.clientWidth || 640;
    const bar = 20, gap = 6, left = 140, width = Math.max(120, full - left - 220);
    svg.replaceChildren(...items.flatMap((i, n) => {
      const y = n * (bar + gap) + 4;
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", 0); label.setAttribute("y", y + 14); label.textContent = i.category;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", left); rect.setAttribute("y", y); rect.setAttribute("height", bar);
      rect.setAttribute("width", Math.max(1, (Number(i.revenue) / max) * width));
      rect.dataset.category = i.category;
      const value = document.createElementNS(ns, "text");
      value.setAttribute("x", left + 6 + (Number(i.revenue) / max) * width); value.setAttribute("y", y + 14);
      value.textContent = `${i.revenue} ${i.currency} · ${i.units} units`;
      return [label, rect, value];
    }));
    const height = Math.max(60, items.length * (bar + gap) + 8);
    svg.setAttribute("viewBox", `0 0 ${full} ${height}`);
    svg.setAttribute("height", height);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = lastSeq === null ? "" : `?since=${lastSeq}`;
    const ws = new WebSocket(`${scheme}://${location.host}/api/ws${since}`);
    setStatus("connecting", lastSeq === null ? "connecting…" : "reconnecting…");
    ws.onopen = () => { retry = 500; setStatus("connected", "live"); };
    ws.onmessage = (m) => handle(JSON.parse(m.data));
    ws.onclose = () => {
      setStatus("disconnected", "disconnected, retrying");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  loadProducts().then(loadSales).finally(connect);
})();
