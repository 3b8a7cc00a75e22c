// gpu-render viewer: a small slippy map of server-aggregated 256 px tiles (no dependencies).
(function () {
  "use strict";
  const TILE = 256, W = 20037508.342789244;
  const $ = (id) => document.getElementById(id);
  const map = $("map"), layer = $("tiles");
  const state = { z: 0, cx: 128, cy: 128, version: 0, meta: null, loaded: 0, failed: 0, glyph: "points", hexSize: 12 };
  const HEX_SIZES = [4, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64];
  const tiles = new Map();   // url -> img

  function q() {
    return "agg=" + encodeURIComponent($("agg").value) + "&cmap=" + encodeURIComponent($("cmap").value) +
      "&how=" + encodeURIComponent($("how").value) + "&glyph=" + state.glyph +
      (state.glyph === "hex" ? "&size=" + state.hexSize : "") + "&v=" + state.version;
  }
  // points or hexagons (of hexSize px): the tiles, colour bar and value readout follow
  function setGlyph(glyph, size) {
    state.glyph = glyph === "hex" ? "hex" : "points";
    if (size !== undefined) state.hexSize = Number(size);
    $("glyph").value = state.glyph;
    $("hexsize").value = String(state.hexSize);
    $("hexsize").disabled = state.glyph !== "hex";
  }
  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "boolean") return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
    return Number.isInteger(v) ? String(v) : v.toFixed(a < 1 ? 4 : 2);
  }
  function clampView() {
    const size = TILE * (1 << state.z), w = map.clientWidth, h = map.clientHeight;
    state.cx = Math.min(Math.max(state.cx, Math.min(w / 2, size / 2)), Math.max(size - w / 2, size / 2));
    state.cy = Math.min(Math.max(state.cy, Math.min(h / 2, size / 2)), Math.max(size - h / 2, size / 2));
  }

  function draw() {
    clampView();
    const n = 1 << state.z, w = map.clientWidth, h = map.clientHeight;
    const left = state.cx - w / 2, top = state.cy - h / 2;
    const x0 = Math.max(0, Math.floor(left / TILE)), x1 = Math.min(n - 1, Math.floor((left + w) / TILE));
    const y0 = Math.max(0, Math.floor(top / TILE)), y1 = Math.min(n - 1, Math.floor((top + h) / TILE));
    const want = new Set(), params = q();
    for (let ty = y0; ty <= y1; ty++) {
      for (let tx = x0; tx <= x1; tx++) {
        const url = "/tiles/" + state.z + "/" + tx + "/" + ty + ".png?" + params;
        want.add(url);
        let img = tiles.get(url);
        if (!img) {
          img = new Image();
          img.alt = "";
          img.dataset.tile = state.z + "/" + tx + "/" + ty;
          img.onload = () => { img.dataset.state = "loaded"; state.loaded++; status(); };
          img.onerror = () => { img.dataset.state = "empty"; img.style.visibility = "hidden"; status(); };
          img.src = url;
          tiles.set(url, img);
          layer.appendChild(img);
        }
        img.style.left = (tx * TILE - left) + "px";
        img.style.top = (ty * TILE - top) + "px";
      }
    }
    for (const [url, img] of tiles) {
      if (!want.has(url)) { img.remove(); tiles.delete(url); }
    }
    status();
  }

  function status() {
    let pending = 0;
    for (const img of tiles.values()) if (!img.dataset.state) pending++;
    $("status").textContent = "zoom " + state.z + " · " + tiles.size + " tiles" + (pending ? " · loading " + pending : "");
  }

  async function colorbar() {
    const r = await fetch("/api/scale?z=" + state.z + "&" + q());
    if (!r.ok) return;
    const s = await r.json();
    $("gradient").style.background = "linear-gradient(to right, " + s.colors.join(", ") + ")";
    const ticks = $("ticks");
    ticks.innerHTML = "";
    const shown = s.ticks.length ? [s.ticks[0], s.ticks[Math.floor(s.ticks.length / 2)], s.ticks[s.ticks.length - 1]] : [];
    for (const t of shown) { const e = document.createElement("span"); e.textContent = fmt(t); ticks.appendChild(e); }
    $("colorbar").title = s.how + " scale of zoom " + s.zoom + (s.glyph === "hex" ? " (hexagons of " + s.size + " px)" : "") +
      ": " + s.ticks.map(fmt).join(", ");
  }

  function setZoom(z, px, py) {
    z = Math.max(0, Math.min(state.meta ? state.meta.max_zoom : 24, z));
    if (z === state.z) return;
    const w = map.clientWidth, h = map.clientHeight;
    if (px === undefined) { px = w / 2; py = h / 2; }
    const f = Math.pow(2, z - state.z);
    const wx = state.cx - w / 2 + px, wy = state.cy - h / 2 + py;   // world px under the cursor
    state.cx = wx * f - px + w / 2;
    state.cy = wy * f - py + h / 2;
    state.z = z;
    draw();
    colorbar();
    exportLink();
  }

  function mercator(px, py) {
    const w = map.clientWidth, h = map.clientHeight, size = TILE * (1 << state.z);
    const wx = state.cx - w / 2 + px, wy = state.cy - h / 2 + py;
    return [wx / size * 2 * W - W, W - wy / size * 2 * W];
  }
  function lnglat(mx, my) {
    return [mx / W * 180, Math.atan(Math.sinh(my / W * Math.PI)) * 180 / Math.PI];
  }

  function exportLink() {
    const w = map.clientWidth, h = map.clientHeight;
    const [ax, ay] = mercator(0, h), [bx, by] = mercator(w, 0);
    $("export").href = "/render.png?bbox=" + [ax, ay, bx, by].join(",") + "&width=" + w + "&height=" + h + "&" + q();
  }

  let valueTimer = null;
  function readout(ev) {
    const rect = map.getBoundingClientRect();
    const px = ev.clientX - rect.left, py = ev.clientY - rect.top;
    clearTimeout(valueTimer);
    valueTimer = setTimeout(async () => {
      const [mx, my] = mercator(px, py);
      const [lon, lat] = lnglat(mx, my);
      const where = state.meta && state.meta.geo ? lon.toFixed(4) + ", " + lat.toFixed(4) : fmt(mx) + ", " + fmt(my);
      const r = await fetch("/api/value?z=" + state.z + "&x=" + mx + "&y=" + my + "&" + q());
      if (!r.ok) return;
      const v = await r.json();
      const what = state.glyph === "hex" ? " (hexagon " + state.hexSize + " px)" : "";
      $("readout").textContent = $("agg").value + what + " = " + fmt(v.value) + " at " + where;
    }, 60);
  }

  // ---- interaction
  let drag = null;
  map.addEventListener("pointerdown", (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, cx: state.cx, cy: state.cy };
    map.setPointerCapture(ev.pointerId);
    map.classList.add("dragging");
  });
  map.addEventListener("pointermove", (ev) => {
    if (drag) {
      state.cx = drag.cx - (ev.clientX - drag.x);
      state.cy = drag.cy - (ev.clientY - drag.y);
      draw();
    }
    readout(ev);
  });
  const endDrag = () => { if (drag) { drag = null; map.classList.remove("dragging"); exportLink(); } };
  map.addEventListener("pointerup", endDrag);
  map.addEventListener("pointercancel", endDrag);
  let wheelAt = 0;
  map.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const now = Date.now();
    if (now - wheelAt < 150) return;   // one level per wheel gesture step
    wheelAt = now;
    const rect = map.getBoundingClientRect();
    setZoom(state.z + (ev.deltaY < 0 ? 1 : -1), ev.clientX - rect.left, ev.clientY - rect.top);
  }, { passive: false });
  map.addEventListener("dblclick", (ev) => {
    const rect = map.getBoundingClientRect();
    setZoom(state.z + 1, ev.clientX - rect.left, ev.clientY - rect.top);
  });
  map.addEventListener("keydown", (ev) => {
    const step = 128, moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[ev.key]) { state.cx += moves[ev.key][0]; state.cy += moves[ev.key][1]; draw(); }
    else if (ev.key === "+" || ev.key === "=") setZoom(state.z + 1);
    else if (ev.key === "-") setZoom(state.z - 1);
  });
  $("zoomin").onclick = () => setZoom(state.z + 1);
  $("zoomout").onclick = () => setZoom(state.z - 1);
  window.addEventListener("resize", draw);
  for (const id of ["agg", "cmap", "how"]) $(id).onchange = () => { draw(); colorbar(); exportLink(); };
  for (const id of ["glyph", "hexsize"]) {
    $(id).onchange = () => { setGlyph($("glyph").value, $("hexsize").value); draw(); colorbar(); exportLink(); };
  }

  function fill(id, values, chosen) {
    const sel = $(id);
    for (const v of values) { const o = document.createElement("option"); o.value = o.textContent = v; sel.appendChild(o); }
    sel.value = chosen;
  }

  function fit(meta) {
    const [x0, y0, x1, y1] = meta.bounds_m, w = map.clientWidth, h = map.clientHeight;
    let z = 0;
    while (z < 20) {
      const size = TILE * (1 << (z + 1));
      if ((x1 - x0) / (2 * W) * size > w || (y1 - y0) / (2 * W) * size > h) break;
      z++;
    }
    const size = TILE * (1 << z);
    state.z = z;
    state.cx = ((x0 + x1) / 2 + W) / (2 * W) * size;
    state.cy = (W - (y0 + y1) / 2) / (2 * W) * size;
  }

  // --follow: say which files are skipped for now and why a refresh failed (from /api/meta)
  function notice(m) {
    const f = m.follow_status || { skipped: [], error: null };
    const lines = [];
    if (f.error) lines.push("not refreshed: " + f.error);
    if (f.skipped.length) lines.push("skipped for now: " + f.skipped.join("; "));
    $("notice").textContent = lines.join(" · ");
    $("notice").hidden = lines.length === 0;
  }

  async function poll() {
    try {
      const r = await fetch("/api/meta");
      if (r.ok) {
        const m = await r.json();
        notice(m);
        if (m.version !== state.version) { state.version = m.version; state.meta = m; draw(); colorbar(); }
      }
    } catch (e) { /* server restarting */ }
    setTimeout(poll, 2000);
  }

  async function start() {
    const meta = await (await fetch("/api/meta")).json();
    state.meta = meta;
    state.version = meta.version;
    fill("agg", meta.reductions, meta.reductions[0]);
    fill("cmap", meta.cmaps, "fire");
    fill("how", meta.hows, "eq_hist");
    const sizes = HEX_SIZES.includes(meta.hex_size) ? HEX_SIZES : HEX_SIZES.concat([meta.hex_size]).sort((a, b) => a - b);
    fill("hexsize", sizes.map(String), String(meta.hex_size));
    setGlyph(meta.glyph, meta.hex_size);
    fit(meta);
    draw();
    colorbar();
    exportLink();
    notice(meta);
    if (meta.follow) setTimeout(poll, 2000);
  }

  // For scripts and tests: the view state and a way to set it.
  window.gpuRender = {
    state: state,
    tiles: tiles,
    setView: (z, cx, cy) => { state.z = z; state.cx = cx; state.cy = cy; draw(); colorbar(); exportLink(); },
    setGlyph: (glyph, size) => { setGlyph(glyph, size); draw(); colorbar(); exportLink(); },
    zoom: setZoom,
  };
  start();
})();
