// vidgen studio: the motion editor.
// Two aspect-locked rectangles (start, end) over the keyframe; every change is checked by
// the server's rules (debounced) and previewed along the path the server samples.
(function () {
  "use strict";

  var vg = window.vg;
  var h = vg.h;
  var SVGNS = "http://www.w3.org/2000/svg";
  var CHECK_DELAY = 150;
  var HANDLE = 11;
  var MIN_FRACTION = 0.04; // the smallest rectangle, as a share of the image's shorter side
  var PRESET_LABELS = {
    zoom_in: "Zoom in", zoom_out: "Zoom out", pan_left: "Pan left", pan_right: "Pan right",
    pan_up: "Pan up", pan_down: "Pan down", static: "Static", custom: "Custom",
  };
  // Digits 1-7 in this order, whatever order the API lists the presets in.
  var PRESET_ORDER = ["zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "pan_down", "static"];
  var SHORT_LABELS = {
    zoom_in: "In", zoom_out: "Out", static: "Static", pan_left: "←", pan_right: "→",
    pan_up: "↑", pan_down: "↓",
  };
  var SWAPPED = {
    zoom_in: "zoom_out", zoom_out: "zoom_in", pan_left: "pan_right", pan_right: "pan_left",
    pan_up: "pan_down", pan_down: "pan_up",
  };

  var $ = function (id) { return document.getElementById(id); };
  var el = {};
  var st = {
    shotIds: [], idx: 0, shot: null,
    data: null,          // GET .../motion
    motion: null,        // the motion being edited (Motion JSON)
    saved: "",           // the saved motion, serialised, for the dirty test
    findings: [], path: [], checkError: null, checkSeq: 0, checkTimer: 0, checkAbort: null,
    active: "end", scale: 1, W: 1, H: 1, drag: null,
    frame: 0, playing: true, t0: 0, raf: 0,
    guardKey: null, guardTimer: 0, busy: false, loadSeq: 0,
  };

  // --- geometry (normalised [x1, y1, x2, y2]) -------------------------------------------------

  function aspectN() {
    // width/height of an output-aspect rectangle, in normalised units
    var out = st.data.output;
    return (out.width / out.height) * (st.H / st.W);
  }

  function clampMove(r) {
    var w = r[2] - r[0], hh = r[3] - r[1];
    var x1 = Math.min(Math.max(r[0], 0), Math.max(0, 1 - w));
    var y1 = Math.min(Math.max(r[1], 0), Math.max(0, 1 - hh));
    return [x1, y1, x1 + w, y1 + hh];
  }

  // A rectangle of the output aspect with one corner fixed at the anchor and the opposite
  // corner following the pointer (px, py), kept inside the image.
  function resizeFrom(anchor, sx, sy, px, py) {
    var a = aspectN();
    var minW = MIN_FRACTION * Math.min(1, a);
    var w = Math.max(Math.abs(px - anchor[0]), Math.abs(py - anchor[1]) * a);
    var maxW = Math.min(sx > 0 ? 1 - anchor[0] : anchor[0], (sy > 0 ? 1 - anchor[1] : anchor[1]) * a);
    w = Math.max(Math.min(w, maxW), Math.min(minW, maxW));
    var hh = w / a;
    var x1 = sx > 0 ? anchor[0] : anchor[0] - w;
    var y1 = sy > 0 ? anchor[1] : anchor[1] - hh;
    return [x1, y1, x1 + w, y1 + hh];
  }

  // Scale a rectangle about its centre by f (aspect kept), clamped inside the image.
  function scaleRect(r, f) {
    var a = aspectN();
    var cx = (r[0] + r[2]) / 2, cy = (r[1] + r[3]) / 2;
    var w = (r[2] - r[0]) * f;
    w = Math.min(w, 1, a);
    w = Math.max(w, MIN_FRACTION * Math.min(1, a));
    var hh = w / a;
    return clampMove([cx - w / 2, cy - hh / 2, cx + w / 2, cy + hh / 2]);
  }

  function round6(r) { return r.map(function (v) { return Math.round(v * 1e6) / 1e6; }); }

  // --- state ------------------------------------------------------------------------------------

  function serial(m) { return m ? JSON.stringify(m) : ""; }
  function dirty() { return !!st.motion && serial(st.motion) !== st.saved; }
  function api(suffix) {
    return vg.batchPath() + "/shots/" + vg.enc(st.shot) + "/motion" + (suffix || "");
  }

  function changed(opts) {
    opts = opts || {};
    if (opts.manual && st.motion.motion_type !== "custom") {
      st.motion.motion_type = "custom"; // drawn by hand
    }
    syncControls();
    draw();
    updateSaveState();
    scheduleCheck();
  }

  // --- loading a shot ---------------------------------------------------------------------------

  function load(shotId, push) {
    var seq = ++st.loadSeq;
    st.shot = shotId;
    st.idx = Math.max(0, st.shotIds.indexOf(shotId));
    el.title.textContent = shotId;
    document.title = "Motion · " + shotId + " · vidgen studio";
    el.select.value = shotId;
    el.pos.textContent = (st.idx + 1) + " / " + st.shotIds.length;
    el.prev.disabled = st.idx <= 0;
    el.next.disabled = st.idx >= st.shotIds.length - 1;
    if (push) {
      var url = "/b/" + vg.enc(vg.batch) + "/motion/" + vg.enc(shotId);
      if (location.search) url += location.search;
      history.replaceState(null, "", url);
    }
    el.saveText.textContent = "Loading…";
    st.loading = true;
    st.motion = null; // nothing to edit until the new shot is here
    return vg.get(api()).then(function (data) {
      if (seq !== st.loadSeq) return;
      st.data = data;
      st.W = data.image.width;
      st.H = data.image.height;
      st.motion = normalise(data.motion);
      st.saved = serial(st.motion);
      st.findings = data.findings || [];
      st.path = [];
      st.frame = 0;
      st.checkError = null;
      buildPresets();
      el.imgSize.textContent = st.W + " × " + st.H + " px";
      el.legendHint.hidden = !data.crop_hint;
      var out = data.output;
      el.roOutput.textContent = "output " + out.width + "×" + out.height + " @ " + out.fps + " fps";
      el.previewSize.textContent = out.width + "×" + out.height;
      return loadImage(data.image.url).then(function () {
        if (seq !== st.loadSeq) return;
        st.loading = false;
        el.box.hidden = false;
        layout();
        syncControls();
        draw();
        renderFindings();
        updateSaveState();
        check();
      });
    }, function (err) {
      if (seq !== st.loadSeq) return;
      st.loading = false;
      st.motion = null;
      el.box.hidden = true;
      el.saveText.textContent = "Cannot load this shot";
      el.findings.textContent = "";
      el.findings.appendChild(h("li", { "class": "finding error" }, [
        h("div", { "class": "f-msg", text: err.message || "cannot load the motion" }),
      ]));
    });
  }

  function normalise(m) {
    var copy = JSON.parse(JSON.stringify(m));
    copy.start = copy.start.slice();
    copy.end = copy.end.slice();
    return copy;
  }

  function loadImage(url) {
    return new Promise(function (resolve) {
      if (el.img.getAttribute("src") === url && el.img.complete) { resolve(); return; }
      el.img.onload = function () { resolve(); };
      el.img.onerror = function () {
        vg.toast("error", "the keyframe cannot be loaded", url);
        resolve();
      };
      el.img.src = url;
    });
  }

  // --- layout and drawing -----------------------------------------------------------------------

  function layout() {
    if (!st.data) return;
    var pad = 44;
    var aw = Math.max(50, el.stage.clientWidth - pad);
    var ah = Math.max(50, el.stage.clientHeight - pad);
    st.scale = Math.min(aw / st.W, ah / st.H, 4);
    var dw = Math.round(st.W * st.scale), dh = Math.round(st.H * st.scale);
    el.img.style.width = dw + "px";
    el.img.style.height = dh + "px";
    el.svg.setAttribute("width", dw);
    el.svg.setAttribute("height", dh);
    el.svg.setAttribute("viewBox", "0 0 " + dw + " " + dh);
    st.dw = dw;
    st.dh = dh;
    sizePreview();
  }

  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  // Which rectangles the findings blame (bounds/upscale: the worst frame; aspect: the message).
  function badRects() {
    var bad = { start: false, end: false };
    var n = st.path.length || 0;
    st.findings.forEach(function (f) {
      if (f.severity !== "error") return;
      if (f.rule === "bounds" || f.rule === "upscale") {
        if (f.frame === null || f.frame === undefined || n <= 1) { bad.start = bad.end = true; }
        else if (f.frame === 0) bad.start = true;
        else if (f.frame >= n - 1) bad.end = true;
        else { bad.start = bad.end = true; }
      } else if (f.rule === "aspect") {
        if (/^start/.test(f.message)) bad.start = true;
        else if (/^end/.test(f.message)) bad.end = true;
      }
    });
    return bad;
  }

  function draw() {
    if (!st.motion || !st.dw) return;
    var s = el.svg;
    while (s.firstChild) s.removeChild(s.firstChild);
    var W = st.dw, H = st.dh;
    var defs = svg("defs");
    var marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
      markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
    marker.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "rgba(255,255,255,0.6)" }));
    defs.appendChild(marker);
    // Outside both rectangles nothing is ever shown: dim it a little.
    var mask = svg("mask", { id: "outside" });
    mask.appendChild(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "white" }));
    ["start", "end"].forEach(function (which) {
      var r = st.motion[which];
      mask.appendChild(svg("rect", { x: r[0] * W, y: r[1] * H, width: (r[2] - r[0]) * W,
        height: (r[3] - r[1]) * H, fill: "black" }));
    });
    defs.appendChild(mask);
    s.appendChild(defs);
    s.appendChild(svg("rect", { "class": "shade", x: 0, y: 0, width: W, height: H,
      mask: "url(#outside)" }));

    var hint = st.data.crop_hint;
    if (hint) {
      s.appendChild(svg("rect", { "class": "hint-rect", x: hint[0] * W, y: hint[1] * H,
        width: (hint[2] - hint[0]) * W, height: (hint[3] - hint[1]) * H }));
      var label = svg("text", { "class": "hint-label", x: hint[0] * W + 4,
        y: hint[3] * H - 6 });
      label.textContent = "AI crop";
      s.appendChild(label);
    }

    var a = st.motion.start, b = st.motion.end;
    var ca = [(a[0] + a[2]) / 2 * W, (a[1] + a[3]) / 2 * H];
    var cb = [(b[0] + b[2]) / 2 * W, (b[1] + b[3]) / 2 * H];
    if (Math.hypot(cb[0] - ca[0], cb[1] - ca[1]) > 8) {
      s.appendChild(svg("line", { "class": "move-line", x1: ca[0], y1: ca[1], x2: cb[0], y2: cb[1],
        "marker-end": "url(#arrow)" }));
    }

    var bad = badRects();
    var areaA = (a[2] - a[0]) * (a[3] - a[1]), areaB = (b[2] - b[0]) * (b[3] - b[1]);
    // The larger rectangle underneath, so that both stay grabbable.
    var order = areaA >= areaB ? ["start", "end"] : ["end", "start"];
    order.forEach(function (which) { s.appendChild(rectGroup(which, bad[which])); });

    st.cameraEl = svg("rect", { "class": "camera", x: 0, y: 0, width: 0, height: 0 });
    s.appendChild(st.cameraEl);
    drawCamera();
    readout();
  }

  function rectGroup(which, bad) {
    var r = st.motion[which];
    var W = st.dw, H = st.dh;
    var x = r[0] * W, y = r[1] * H, w = (r[2] - r[0]) * W, hh = (r[3] - r[1]) * H;
    var g = svg("g", { "class": "is-" + which + (bad ? " bad" : ""), "data-rect": which });
    g.appendChild(svg("rect", { "class": "fillv", x: x, y: y, width: w, height: hh }));
    g.appendChild(svg("rect", {
      "class": "rect " + which + (bad ? " bad" : "") + (st.active === which ? " active" : ""),
      x: x, y: y, width: w, height: hh, "data-role": "move", "data-which": which,
      "pointer-events": "all",
    }));
    // the label, inside the rectangle: start at its top left, end at its bottom right
    var text = which === "start" ? "START" : "END";
    var tw = text.length * 7.2 + 10, th = 17;
    var tx = which === "start" ? x + HANDLE + 3 : x + w - HANDLE - 3 - tw;
    var ty = which === "start" ? y + 5 : y + hh - 5 - th;
    if (w < tw + 2 * HANDLE + 10 || hh < th + 2 * HANDLE + 4) {
      // too small to hold its label: put it outside, next to the same corner
      var above = y - th - 6, below = y + hh + 6;
      if (which === "start") ty = above >= 0 ? above : below;
      else ty = below + th <= st.dh ? below : above;
      tx = Math.min(Math.max(which === "start" ? x : x + w - tw, 0), W - tw);
    }
    var tag = svg("g", { "class": "tag", "data-role": "move", "data-which": which });
    tag.appendChild(svg("rect", { x: tx, y: ty, width: tw, height: th, "data-role": "move",
      "data-which": which }));
    var t = svg("text", { x: tx + 5, y: ty + 12.5 });
    t.textContent = text;
    tag.appendChild(t);
    g.appendChild(tag);
    [[0, 0, "nw"], [1, 0, "ne"], [0, 1, "sw"], [1, 1, "se"]].forEach(function (c) {
      var hx = c[0] ? x + w : x, hy = c[1] ? y + hh : y;
      g.appendChild(svg("rect", {
        "class": "handle " + (c[2] === "nw" || c[2] === "se" ? "nwse" : "nesw"),
        x: hx - HANDLE / 2, y: hy - HANDLE / 2, width: HANDLE, height: HANDLE, rx: 2,
        "data-role": "resize", "data-which": which, "data-corner": c[2],
      }));
    });
    return g;
  }

  function drawCamera() {
    var c = st.cameraEl;
    if (!c) return;
    var r = st.path[st.frame];
    if (!r || st.path.length < 2) { c.setAttribute("width", 0); return; }
    c.setAttribute("x", r[0] * st.dw);
    c.setAttribute("y", r[1] * st.dh);
    c.setAttribute("width", Math.max(0, (r[2] - r[0]) * st.dw));
    c.setAttribute("height", Math.max(0, (r[3] - r[1]) * st.dh));
  }

  function fmtRect(r) {
    return "[" + r.map(function (v) { return v.toFixed(3); }).join(" ") + "]";
  }

  function readout() {
    var m = st.motion;
    var px = function (r) {
      return Math.round((r[2] - r[0]) * st.W) + "×" + Math.round((r[3] - r[1]) * st.H);
    };
    el.roStart.textContent = "start " + fmtRect(m.start) + " " + px(m.start);
    el.roEnd.textContent = "end " + fmtRect(m.end) + " " + px(m.end);
  }

  // --- pointer interaction ------------------------------------------------------------------------

  function pointerPos(e) {
    var box = el.svg.getBoundingClientRect();
    return [(e.clientX - box.left) / st.dw, (e.clientY - box.top) / st.dh];
  }

  function onPointerDown(e) {
    if (e.button !== 0 || !st.motion) return;
    var t = e.target;
    var role = t.getAttribute && t.getAttribute("data-role");
    if (!role) return;
    var which = t.getAttribute("data-which");
    var p = pointerPos(e);
    var r = st.motion[which].slice();
    st.active = which;
    if (role === "move") {
      st.drag = { kind: "move", which: which, from: p, rect: r };
    } else {
      var corner = t.getAttribute("data-corner");
      var sx = corner.indexOf("e") >= 0 ? 1 : -1; // the corner moves right of the anchor
      var sy = corner.indexOf("s") >= 0 ? 1 : -1;
      var anchor = [sx > 0 ? r[0] : r[2], sy > 0 ? r[1] : r[3]];
      st.drag = { kind: "resize", which: which, anchor: anchor, sx: sx, sy: sy };
    }
    el.svg.setPointerCapture(e.pointerId);
    e.preventDefault();
    draw();
  }

  function onPointerMove(e) {
    var d = st.drag;
    if (!d) return;
    var p = pointerPos(e);
    var r;
    if (d.kind === "move") {
      var dx = p[0] - d.from[0], dy = p[1] - d.from[1];
      r = clampMove([d.rect[0] + dx, d.rect[1] + dy, d.rect[2] + dx, d.rect[3] + dy]);
    } else {
      r = round6(resizeFrom(d.anchor, d.sx, d.sy, p[0], p[1]));
      r[d.sx > 0 ? 0 : 2] = d.anchor[0]; // the opposite corner stays exactly where it was
      r[d.sy > 0 ? 1 : 3] = d.anchor[1];
    }
    if (d.kind === "move") r = round6(r);
    st.motion[d.which] = r;
    d.moved = true;
    changed({ manual: true });
  }

  function onPointerUp(e) {
    if (!st.drag) return;
    if (el.svg.hasPointerCapture(e.pointerId)) el.svg.releasePointerCapture(e.pointerId);
    st.drag = null;
    draw();
  }

  // --- the rules ------------------------------------------------------------------------------------

  function scheduleCheck() {
    clearTimeout(st.checkTimer);
    el.checking.textContent = "checking…";
    st.checkTimer = setTimeout(check, CHECK_DELAY);
  }

  function check() {
    clearTimeout(st.checkTimer);
    st.checkTimer = 0;
    if (!st.motion) return Promise.resolve();
    if (st.checkAbort) st.checkAbort.abort();
    var ctl = typeof AbortController !== "undefined" ? new AbortController() : null;
    st.checkAbort = ctl;
    var seq = ++st.checkSeq;
    var shot = st.shot;
    el.checking.textContent = "checking…";
    st.inflight = true;
    return vg.post(api("/check"), st.motion, { quiet: true, signal: ctl && ctl.signal })
      .then(function (res) {
        if (seq !== st.checkSeq || shot !== st.shot) return;
        st.inflight = false;
        st.findings = res.findings || [];
        st.checkError = null;
        var hadPath = st.path.length;
        st.path = res.path || [];
        if (st.frame >= st.path.length) st.frame = 0;
        el.scrub.max = Math.max(0, st.path.length - 1);
        if (!hadPath) st.t0 = performance.now();
        el.checking.textContent = "";
        renderFindings();
        draw();
        paintPreview();
      }, function (err) {
        if (err && err.name === "AbortError") return;
        if (seq !== st.checkSeq) return;
        st.inflight = false;
        st.checkError = err;
        st.findings = err.findings || [];
        el.checking.textContent = "";
        renderFindings();
        draw();
      });
  }

  function renderFindings() {
    var list = el.findings;
    list.textContent = "";
    if (st.checkError && !(st.checkError.findings && st.checkError.findings.length)) {
      var e = st.checkError;
      list.appendChild(h("li", { "class": "finding error", "data-rule": e.field || "input" }, [
        h("div", { "class": "f-head" }, [
          h("span", { "class": "f-rule", text: e.field || e.type || "error" }),
          h("span", { "class": "f-sev", text: "error" }),
        ]),
        h("div", { "class": "f-msg", text: e.message }),
        vg.describe(e) ? h("div", { "class": "f-val", text: vg.describe(e) }) : null,
      ]));
      return;
    }
    var sorted = st.findings.slice().sort(function (a, b) {
      return (a.severity === "error" ? 0 : 1) - (b.severity === "error" ? 0 : 1);
    });
    if (!sorted.length) {
      list.appendChild(h("li", { "class": "all-clear", text: "Every rule passes" }));
      return;
    }
    sorted.forEach(function (f) {
      var val = [];
      if (f.value !== null && f.value !== undefined) val.push("value " + vg.fmtValue(f.value));
      if (f.limit !== null && f.limit !== undefined) val.push("limit " + vg.fmtValue(f.limit));
      if (f.frame !== null && f.frame !== undefined) val.push("frame " + f.frame);
      list.appendChild(h("li", { "class": "finding " + f.severity, "data-rule": f.rule }, [
        h("div", { "class": "f-head" }, [
          h("span", { "class": "f-rule", text: f.rule }),
          h("span", { "class": "f-sev", text: f.severity }),
        ]),
        h("div", { "class": "f-msg", text: f.message }),
        val.length ? h("div", { "class": "f-val", text: val.join(" · ") }) : null,
      ]));
    });
  }

  // --- presets and fields -------------------------------------------------------------------------

  function buildPresets() {
    if (el.presets.childElementCount) return;
    var presets = presetList();
    var rows = { zoom: h("div", { "class": "preset-row" }, [h("span", { "class": "row-label", text: "Zoom" })]),
      pan: h("div", { "class": "preset-row pan" }, [h("span", { "class": "row-label", text: "Pan" })]) };
    presets.forEach(function (p, i) {
      var row = p.indexOf("pan_") === 0 ? rows.pan : rows.zoom;
      row.appendChild(h("button", {
        type: "button", "data-preset": p, title: PRESET_LABELS[p] + " (" + (i + 1) + ")",
        "aria-label": PRESET_LABELS[p], onclick: function () { propose(p); },
      }, [SHORT_LABELS[p] || p, h("span", { "class": "k", text: String(i + 1) })]));
    });
    el.presets.appendChild(rows.zoom);
    el.presets.appendChild(rows.pan);
    (st.data.easings || ["linear", "ease_in", "ease_out", "ease_in_out"]).forEach(function (e) {
      el.easing.appendChild(h("option", { value: e, text: e.replace(/_/g, " ") }));
    });
    presetList().concat(["custom"]).forEach(function (p) {
      el.mtype.appendChild(h("option", { value: p, text: PRESET_LABELS[p] || p }));
    });
    var lim = st.data.limits || {};
    if (lim.min_duration !== undefined) {
      el.duration.title = "The rules allow " + lim.min_duration + "–" + lim.max_duration + " s";
    }
  }

  function presetList() {
    var offered = (st.data && st.data.presets) || PRESET_ORDER;
    var known = PRESET_ORDER.filter(function (p) { return offered.indexOf(p) >= 0; });
    return known.concat(offered.filter(function (p) { return known.indexOf(p) < 0; }));
  }

  function syncControls() {
    var m = st.motion;
    if (!m) return;
    if (document.activeElement !== el.duration) el.duration.value = m.duration_sec;
    el.easing.value = m.easing;
    el.mtype.value = m.motion_type;
    el.intensity.value = m.intensity;
    el.intensityOut.textContent = Number(m.intensity).toFixed(2);
    var preset = m.motion_type !== "custom";
    el.intensity.disabled = false;
    el.typeNote.textContent = preset ? "" : "drawn by hand";
    Array.prototype.forEach.call(el.presets.querySelectorAll("button"), function (b) {
      var on = b.getAttribute("data-preset") === m.motion_type;
      b.classList.toggle("on", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function propose(preset) {
    if (!st.motion) return Promise.resolve();
    var body = {
      preset: preset, intensity: Number(el.intensity.value),
      duration_sec: Number(st.motion.duration_sec), easing: st.motion.easing,
    };
    var shot = st.shot;
    st.lastPreset = preset;
    st.proposing = (st.proposing || 0) + 1;
    var done = function () { st.proposing -= 1; };
    return vg.post(api("/propose"), body).then(function (res) {
      done();
      if (shot !== st.shot) return;
      st.motion = normalise(res.motion);
      st.findings = res.findings || [];
      st.checkError = null;
      renderFindings();
      changed();
    }, done);
  }

  var intensityTimer = 0;
  function onIntensity() {
    el.intensityOut.textContent = Number(el.intensity.value).toFixed(2);
    st.motion.intensity = Number(el.intensity.value);
    clearTimeout(intensityTimer);
    var type = st.motion.motion_type;
    if (type !== "custom") {
      // a preset follows its intensity (static stays static; 0 gives static)
      var preset = type === "static" && st.lastPreset ? st.lastPreset : type;
      intensityTimer = setTimeout(function () { propose(preset); }, CHECK_DELAY);
    } else {
      changed();
    }
  }

  // --- preview ------------------------------------------------------------------------------------

  function sizePreview() {
    var out = st.data.output;
    var maxW = el.preview.parentElement.clientWidth || 312;
    var maxH = 230;
    var w = maxW, hh = w * out.height / out.width;
    if (hh > maxH) { hh = maxH; w = hh * out.width / out.height; }
    var dpr = window.devicePixelRatio || 1;
    el.preview.style.width = Math.round(w) + "px";
    el.preview.style.height = Math.round(hh) + "px";
    el.preview.width = Math.round(w * dpr);
    el.preview.height = Math.round(hh * dpr);
    paintPreview();
  }

  function paintPreview() {
    var ctx = el.preview.getContext("2d");
    var cw = el.preview.width, ch = el.preview.height;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, cw, ch);
    var r = st.path[st.frame] || (st.motion && st.motion.start);
    if (!r || !el.img.naturalWidth) return;
    var nw = el.img.naturalWidth, nh = el.img.naturalHeight;
    var sx = r[0] * nw, sy = r[1] * nh, sw = (r[2] - r[0]) * nw, sh = (r[3] - r[1]) * nh;
    if (sw <= 0 || sh <= 0) return;
    ctx.imageSmoothingQuality = "high";
    // Parts of a crop outside the image show black, as nothing would be there to show.
    var dx = 0, dy = 0, dw = cw, dh = ch;
    if (sx < 0) { dx = -sx / sw * cw; dw -= dx; sw += sx; sx = 0; }
    if (sy < 0) { dy = -sy / sh * ch; dh -= dy; sh += sy; sy = 0; }
    if (sx + sw > nw) { var cut = (sx + sw - nw) / sw; dw -= cut * dw; sw = nw - sx; }
    if (sy + sh > nh) { var cut2 = (sy + sh - nh) / sh; dh -= cut2 * dh; sh = nh - sy; }
    if (sw > 0 && sh > 0 && dw > 0 && dh > 0) ctx.drawImage(el.img, sx, sy, sw, sh, dx, dy, dw, dh);
    var fps = st.data.output.fps;
    var n = st.path.length;
    el.ptime.textContent = n ? ("f " + st.frame + "/" + (n - 1) + " · " +
      (st.frame / fps).toFixed(2) + " s") : "–";
    el.scrub.value = st.frame;
  }

  function tick(now) {
    st.raf = requestAnimationFrame(tick);
    if (!st.playing || st.path.length < 1 || !st.data) return;
    var fps = st.data.output.fps;
    var n = st.path.length;
    var hold = Math.round(fps * 0.6); // a short rest on the last frame before looping
    var f = Math.floor((now - st.t0) / 1000 * fps) % (n + hold);
    f = Math.min(f, n - 1);
    if (f !== st.frame) {
      st.frame = f;
      paintPreview();
      drawCamera();
    }
  }

  function setPlaying(on) {
    st.playing = on;
    el.play.textContent = on ? "❚❚" : "▶";
    el.play.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) {
      var fps = st.data ? st.data.output.fps : 24;
      st.t0 = performance.now() - st.frame / fps * 1000;
    }
  }

  // --- save, navigation, leaving ------------------------------------------------------------------

  function updateSaveState() {
    var d = dirty();
    el.saveBar.classList.toggle("dirty", d);
    el.saveText.textContent = d ? "Unsaved changes" : "Saved";
    el.revert.disabled = !d;
    document.title = (d ? "• " : "") + "Motion · " + st.shot + " · vidgen studio";
  }

  function save() {
    if (!st.motion || st.busy) return Promise.resolve(false);
    st.busy = true;
    el.save.disabled = true;
    var sent = serial(st.motion);
    var shot = st.shot;
    return vg.put(api(), st.motion, { quietStatus: [422] }).then(function (res) {
      if (shot === st.shot && serial(st.motion) === sent) st.saved = sent;
      if (shot === st.shot) {
        st.findings = res.findings || st.findings;
        renderFindings();
        updateSaveState();
      }
      vg.toast("ok", "Saved " + (res.path || shot), res.manifest_updated ? "manifest updated" : "");
      return true;
    }, function (err) {
      if (err.status === 422 && shot === st.shot) {
        st.findings = err.findings || [];
        st.checkError = err.findings && err.findings.length ? null : err;
        renderFindings();
        draw();
        var n = st.findings.filter(function (f) { return f.severity === "error"; }).length;
        vg.toast("error", "Not saved: " + (n ? n + " rule error" + (n > 1 ? "s" : "") : err.message),
          "fix the rules in red first; nothing was written");
      }
      return false;
    }).then(function (ok) {
      st.busy = false;
      el.save.disabled = false;
      return ok;
    });
  }

  // A key that would lose unsaved changes: the first press warns, the second goes ahead.
  function guarded(key, message) {
    if (!dirty()) return true;
    if (st.guardKey === key) {
      hideGuard();
      return true;
    }
    st.guardKey = key;
    el.guard.textContent = message;
    el.guard.hidden = false;
    clearTimeout(st.guardTimer);
    st.guardTimer = setTimeout(hideGuard, 3500);
    return false;
  }

  function hideGuard() {
    st.guardKey = null;
    el.guard.hidden = true;
  }

  function go(delta, key) {
    var i = st.idx + delta;
    if (i < 0 || i >= st.shotIds.length) return;
    var label = key === "click" ? "again" : "it again";
    if (!guarded("nav" + delta, "Unsaved changes. Press " + label + " to discard them, or Enter to save.")) return;
    load(st.shotIds[i], true);
  }

  function saveAndNext() {
    save().then(function (ok) {
      if (!ok) return;
      if (st.idx < st.shotIds.length - 1) load(st.shotIds[st.idx + 1], true);
      else vg.toast("info", "That was the last shot", "every motion of this batch has been seen");
    });
  }

  function leave() {
    if (!guarded("leave", "Unsaved changes. Press Esc again to leave without saving.")) return;
    st.saved = serial(st.motion); // the person chose to discard: no browser prompt
    location.href = "/";
  }

  function swap() {
    var m = st.motion;
    var t = m.start;
    m.start = m.end;
    m.end = t;
    if (SWAPPED[m.motion_type]) m.motion_type = SWAPPED[m.motion_type];
    changed();
  }

  function nudge(dx, dy) {
    var r = st.motion[st.active];
    st.motion[st.active] = round6(clampMove([r[0] + dx, r[1] + dy, r[2] + dx, r[3] + dy]));
    changed({ manual: true });
  }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (!document.getElementById("keys").hidden && e.key === "Escape") {
      document.getElementById("keys").hidden = true;
      return;
    }
    if (vg.typing(e)) {
      if (e.key === "Escape") e.target.blur();
      else if (e.key === "Enter" && e.target === el.duration) { e.target.blur(); }
      return;
    }
    if (!st.motion) return;
    var k = e.key;
    if (e.shiftKey && k.indexOf("Arrow") === 0) {
      var step = 0.01;
      nudge(k === "ArrowLeft" ? -step : k === "ArrowRight" ? step : 0,
        k === "ArrowUp" ? -step : k === "ArrowDown" ? step : 0);
      e.preventDefault();
      return;
    }
    // A button focused from the keyboard keeps Enter and Space; one merely clicked does not.
    var keyButton = e.target && e.target.tagName === "BUTTON" && e.target !== el.save &&
      e.target.matches(":focus-visible");
    if (k === "Enter") {
      if (keyButton) return;
      e.preventDefault();
      saveAndNext();
    } else if (k === "ArrowLeft" || k === "b" || k === "B") {
      e.preventDefault();
      go(-1, k);
    } else if (k === "ArrowRight") {
      e.preventDefault();
      go(1, k);
    } else if (k === "Escape" || k === "q" || k === "Q") {
      e.preventDefault();
      leave();
    } else if (k === " " || k === "Spacebar") {
      if (keyButton) return;
      e.preventDefault();
      setPlaying(!st.playing);
    } else if (k === "s" || k === "S") {
      e.preventDefault();
      swap();
    } else if (k === "e" || k === "E") {
      st.active = st.active === "start" ? "end" : "start";
      draw();
    } else if (k === "[" || k === "]") {
      st.motion[st.active] = round6(scaleRect(st.motion[st.active], k === "]" ? 1.03 : 1 / 1.03));
      changed({ manual: true });
    } else if (/^[1-9]$/.test(k)) {
      var p = presetList()[Number(k) - 1];
      if (p) {
        e.preventDefault();
        propose(p);
      }
    }
  }

  // --- wiring -------------------------------------------------------------------------------------

  function init() {
    ["editor", "stage", "overlay", "keyframe", "findings", "checking", "preview", "play", "scrub",
      "ptime", "save", "revert", "guard", "presets", "intensity", "duration", "easing", "mtype",
      "prev", "next"].forEach(function (id) { el[id] = $(id); });
    el.svg = el.overlay;
    el.img = el.keyframe;
    el.box = $("canvas-box");
    el.title = $("shot-title");
    el.select = $("shot-select");
    el.pos = $("shot-pos");
    el.imgSize = $("img-size");
    el.legendHint = $("legend-hint");
    el.roStart = $("ro-start");
    el.roEnd = $("ro-end");
    el.roOutput = $("ro-output");
    el.previewSize = $("preview-size");
    el.intensityOut = $("intensity-out");
    el.typeNote = $("type-note");
    el.saveBar = $("save-bar");
    el.saveText = $("save-text");

    try { st.shotIds = JSON.parse($("shot-ids").textContent) || []; } catch (err) { st.shotIds = []; }
    var first = el.editor.getAttribute("data-shot");

    el.svg.addEventListener("pointerdown", onPointerDown);
    el.svg.addEventListener("pointermove", onPointerMove);
    el.svg.addEventListener("pointerup", onPointerUp);
    el.svg.addEventListener("pointercancel", onPointerUp);
    document.addEventListener("keydown", onKey);
    window.addEventListener("resize", function () { layout(); draw(); });
    window.addEventListener("beforeunload", function (e) {
      if (dirty()) { e.preventDefault(); e.returnValue = ""; }
    });

    el.intensity.addEventListener("input", onIntensity);
    el.duration.addEventListener("input", function () {
      var v = parseFloat(el.duration.value);
      if (isNaN(v)) return;
      st.motion.duration_sec = v;
      changed();
    });
    el.easing.addEventListener("change", function () { st.motion.easing = el.easing.value; changed(); });
    el.mtype.addEventListener("change", function () {
      st.motion.motion_type = el.mtype.value;
      changed();
    });
    el.prev.addEventListener("click", function () { go(-1, "click"); });
    el.next.addEventListener("click", function () { go(1, "click"); });
    el.select.addEventListener("change", function () {
      var target = el.select.value;
      if (dirty() && !window.confirm("Discard the unsaved changes of " + st.shot + "?")) {
        el.select.value = st.shot;
        return;
      }
      load(target, true);
    });
    el.save.addEventListener("click", function () { save(); });
    el.revert.addEventListener("click", function () {
      st.motion = JSON.parse(st.saved);
      changed();
    });
    el.play.addEventListener("click", function () { setPlaying(!st.playing); });
    el.scrub.addEventListener("input", function () {
      setPlaying(false);
      st.frame = Number(el.scrub.value);
      paintPreview();
      drawCamera();
    });

    if (!first && st.shotIds.length) first = st.shotIds[0];
    if (first) load(first, false);
    st.raf = requestAnimationFrame(tick);

    vg.get(vg.batchPath(), { quiet: true }).then(function (b) {
      var states = {};
      (b.shots || []).forEach(function (s) { states[s.shot_id] = s.state; });
      Array.prototype.forEach.call(el.select.options, function (o) {
        if (states[o.value]) o.textContent = o.value + "  ·  " + states[o.value];
      });
    }, function () {});
  }

  // exposed for the browser tests and for the curious
  window.vgMotion = {
    state: st, save: save, check: check, dirty: dirty,
    // whether a rule check is waiting or on its way (the tests wait for it)
    pending: function () {
      return !!st.checkTimer || !!st.inflight || !!st.proposing || !!st.loading || st.busy;
    },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
