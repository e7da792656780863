// vidgen studio: what every page shares. Plain JavaScript, no build step.
// window.vg: the API helper (adds the token, turns error bodies into toasts), formatting
// helpers and a keyboard-shortcut guard.
(function () {
  "use strict";

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") || "" : "";
  }

  var token = meta("vidgen-token");

  // A page opened with ?token= has its cookie now: keep the token out of the address bar,
  // the history and bookmarks.
  if (/[?&]token=/.test(location.search) && window.history && history.replaceState) {
    var params = new URLSearchParams(location.search);
    params.delete("token");
    var rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  var api = meta("vidgen-api") || "/api";
  var batch = meta("vidgen-batch");

  // --- toasts -------------------------------------------------------------------------------

  function toastBox() {
    var box = document.getElementById("toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "toasts";
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    return box;
  }

  // kind: "error" | "ok" | "info"; text: the message; detail: optional second line.
  function toast(kind, text, detail) {
    var el = document.createElement("div");
    el.className = "toast toast-" + kind;
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    var strong = document.createElement("div");
    strong.className = "toast-title";
    strong.textContent = text;
    el.appendChild(strong);
    if (detail) {
      var small = document.createElement("div");
      small.className = "toast-detail";
      small.textContent = detail;
      el.appendChild(small);
    }
    el.addEventListener("click", function () { el.remove(); });
    toastBox().appendChild(el);
    setTimeout(function () {
      el.classList.add("toast-out");
      setTimeout(function () { el.remove(); }, 300);
    }, kind === "error" ? 7000 : 2600);
    return el;
  }

  // --- the API ------------------------------------------------------------------------------

  // An error the API sent ({"error": {...}}), or a network failure.
  function ApiError(status, body) {
    var e = (body && body.error) || {};
    this.name = "ApiError";
    this.status = status;
    this.body = body || {};
    this.type = e.type || "http";
    this.message = e.message || ("HTTP " + status);
    this.field = e.field || null;
    this.value = e.value === undefined ? null : e.value;
    this.limit = e.limit || null;
    this.hint = e.hint || null;
    this.item = e.item || null;
    this.findings = (body && body.findings) || e.findings || null;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function describe(err) {
    var parts = [];
    if (err.field) parts.push("field " + err.field);
    if (err.value !== null && err.value !== undefined && err.value !== "") {
      parts.push("value " + (typeof err.value === "object" ? JSON.stringify(err.value) : err.value));
    }
    if (err.limit) parts.push("limit " + err.limit);
    var line = parts.join(", ");
    if (err.hint) line = line ? line + ". " + err.hint : err.hint;
    return line;
  }

  // request(method, path, body, opts): path is relative to the API root ("/batches/x").
  // Resolves with the parsed JSON; rejects with an ApiError after showing a toast
  // (opts.quiet: no toast; opts.quietStatus: [codes] to leave to the caller).
  function request(method, path, body, opts) {
    opts = opts || {};
    var headers = { "Accept": "application/json" };
    if (token) headers["X-Vidgen-Token"] = token;
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined && body !== null) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (opts.signal) init.signal = opts.signal;
    return fetch(api + path, init).then(function (res) {
      var type = res.headers.get("content-type") || "";
      var parsed = type.indexOf("json") >= 0 ? res.json().catch(function () { return null; })
        : res.text().then(function () { return null; });
      return parsed.then(function (data) {
        if (res.ok) return data;
        var err = new ApiError(res.status, data);
        var quiet = opts.quiet || (opts.quietStatus && opts.quietStatus.indexOf(res.status) >= 0);
        if (!quiet) toast("error", err.message, describe(err));
        throw err;
      });
    }, function (netErr) {
      if (netErr && netErr.name === "AbortError") throw netErr;
      var err = new ApiError(0, { error: { message: "the studio server cannot be reached" } });
      if (!opts.quiet) toast("error", err.message, "is `vidgen serve` still running?");
      throw err;
    });
  }

  // --- formatting -----------------------------------------------------------------------------

  function pct(fraction, digits) {
    if (fraction === null || fraction === undefined || isNaN(fraction)) return "–";
    return (fraction * 100).toFixed(digits === undefined ? 0 : digits) + "%";
  }

  function num(x, digits) {
    if (x === null || x === undefined || isNaN(x)) return "–";
    return Number(x).toFixed(digits === undefined ? 2 : digits);
  }

  // 3725 -> "1 h 02 min"; 75 -> "1 min 15 s"; 8 -> "8 s".
  function duration(sec) {
    if (sec === null || sec === undefined || isNaN(sec)) return "–";
    if (sec > 0 && sec < 1) return "< 1 s";
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return sec + " s";
    var m = Math.floor(sec / 60), s = sec % 60;
    if (m < 60) return m + " min " + (s < 10 ? "0" : "") + s + " s";
    var h = Math.floor(m / 60);
    m = m % 60;
    return h + " h " + (m < 10 ? "0" : "") + m + " min";
  }

  // A finding's value and limit: "value 0.25 · limit 0.2".
  function fmtValue(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Math.abs(v) >= 100 ? v.toFixed(0) : String(+v.toPrecision(4));
    return String(v);
  }

  // Element builder: h("div", {class: "x", text: "hi", onclick: fn}, [children]).
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    attrs = attrs || {};
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") el.textContent = v;
      else if (k === "class") el.className = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
      else el.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return el;
  }

  // Keyboard shortcuts should not fire while a person types in a field.
  function typing(event) {
    var t = event.target;
    if (!t || !t.tagName) return false;
    var tag = t.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select" || t.isContentEditable) return true;
    if (tag === "input") {
      var type = (t.getAttribute("type") || "text").toLowerCase();
      return ["button", "checkbox", "radio", "range"].indexOf(type) < 0;
    }
    return false;
  }

  function enc(s) { return encodeURIComponent(s); }

  // The API path of a batch: "/batches/<key>".
  function batchPath(key) { return "/batches/" + enc(key === undefined ? batch : key); }

  // A file of the batch for <img>/<video> (the cookie carries the token for those).
  function fileUrl(relative, key) {
    return api + batchPath(key) + "/files/" + relative.split("/").map(enc).join("/");
  }

  // The state colours, also used by the legends.
  // In the order of the progress bars: finished work on the left, the queue on the right.
  var STATES = ["accepted", "done", "flagged", "rejected", "failed", "running", "queued"];

  window.vg = {
    token: token, api: api, batch: batch, request: request, toast: toast, ApiError: ApiError,
    describe: describe, pct: pct, num: num, duration: duration, fmtValue: fmtValue, h: h,
    typing: typing, enc: enc, batchPath: batchPath, fileUrl: fileUrl, STATES: STATES,
    get: function (p, o) { return request("GET", p, null, o); },
    post: function (p, b, o) { return request("POST", p, b === undefined ? {} : b, o); },
    put: function (p, b, o) { return request("PUT", p, b, o); },
  };

  // "?" anywhere (or the header's ? button): the page's shortcut sheet, if it has one.
  function toggleKeys() {
    var sheet = document.getElementById("keys");
    if (sheet) sheet.hidden = !sheet.hidden;
    return !!sheet;
  }
  document.addEventListener("keydown", function (e) {
    if (e.key !== "?" || typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (toggleKeys()) e.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", function () {
    // Widths from data-w (percent): no inline style attributes in the markup.
    Array.prototype.forEach.call(document.querySelectorAll("[data-w]"), function (el) {
      el.style.width = el.getAttribute("data-w") + "%";
    });
    // The header names the batch by its manifest's batch_id (the key is its folder).
    var name = document.getElementById("batch-name");
    if (name && batch) {
      request("GET", "/batches", null, { quiet: true }).then(function (list) {
        (list || []).forEach(function (b) {
          if (b.key === batch && b.batch_id && b.batch_id !== batch) {
            name.textContent = b.batch_id;
            name.title = "batch " + b.batch_id + " (folder " + batch + ")";
          }
        });
      }, function () {});
    }
    var btn = document.getElementById("keys-btn");
    if (btn) btn.addEventListener("click", toggleKeys);
    var sheet = document.getElementById("keys");
    if (sheet) sheet.addEventListener("click", function (e) {
      if (e.target === sheet || e.target.classList.contains("keys-close")) sheet.hidden = true;
    });
  });
})();
