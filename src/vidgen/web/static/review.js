// vidgen studio: the review grid. Every result of the batch with its QC verdict and reasons;
// flagged frames seek the video; accept / reject / regenerate go to .../decision.
(function () {
  "use strict";

  var vg = window.vg;
  var h = vg.h;
  var REFRESH_MS = 10000;
  var FILTERS = [
    { key: "all", label: "All", states: null },
    { key: "open", label: "To review", states: ["done", "flagged"] },
    { key: "flagged", label: "Flagged", states: ["flagged"] },
    { key: "accepted", label: "Accepted", states: ["accepted"] },
    { key: "rejected", label: "Rejected", states: ["rejected"] },
    { key: "failed", label: "Failed", states: ["failed"] },
    { key: "pending", label: "Queued / running", states: ["queued", "running"] },
  ];
  var FINISHED = ["done", "flagged", "accepted", "rejected"];
  var SHOWN_REASONS = 2;
  var MAX_RANGES = 10;

  var st = {
    batch: null, shots: [], byId: {}, cards: {}, details: {}, filter: "all", verdict: "",
    selected: null, observer: null, busy: {},
  };
  var grid, empty;

  // --- data -------------------------------------------------------------------------------------

  function refresh() {
    return vg.get(vg.batchPath(), { quiet: st.shots.length > 0 }).then(function (b) {
      st.batch = b;
      header(b);
      var old = st.byId;
      st.shots = b.shots || [];
      st.byId = {};
      st.shots.forEach(function (s) { st.byId[s.shot_id] = s; });
      st.shots.forEach(function (s) {
        var prev = old[s.shot_id];
        if (!st.cards[s.shot_id]) return;
        if (!prev || prev.state !== s.state || prev.attempts !== s.attempts ||
            prev.output !== s.output || prev.verdict !== s.verdict) {
          delete st.details[s.shot_id];
          replaceCard(s);
        }
      });
      chips();
      render();
    });
  }

  function header(b) {
    var c = b.counts || {};
    var finished = FINISHED.reduce(function (n, k) { return n + (c[k] || 0); }, 0);
    var reviewed = (c.accepted || 0) + (c.rejected || 0);
    document.getElementById("h-accept").textContent = vg.pct(b.acceptance_rate);
    document.getElementById("h-flagged").textContent = pctValue(b.flagged_pct);
    document.getElementById("h-reviewed").textContent = reviewed + " / " + finished;
  }

  // flagged_pct is a percentage (0-100)
  function pctValue(p) {
    if (p === null || p === undefined || isNaN(p)) return "–";
    return (p < 10 && p > 0 ? Number(p).toFixed(1) : Math.round(p)) + "%";
  }

  function loadVideo(card) {
    var v = card.querySelector("video[data-src]");
    if (!v) return;
    v.preload = "metadata";
    v.src = v.getAttribute("data-src");
    v.removeAttribute("data-src");
  }

  function detail(shotId) {
    if (st.details[shotId]) return st.details[shotId];
    st.details[shotId] = vg.get(vg.batchPath() + "/shots/" + vg.enc(shotId), { quiet: true })
      .then(function (d) {
        var card = st.cards[shotId];
        if (card) fillFrames(card, d);
        return d;
      }, function () { return null; });
    return st.details[shotId];
  }

  // --- filtering ----------------------------------------------------------------------------------

  function matches(s) {
    var f = FILTERS.filter(function (x) { return x.key === st.filter; })[0];
    if (f && f.states && f.states.indexOf(s.state) < 0) return false;
    if (st.verdict && s.verdict !== st.verdict) return false;
    return true;
  }

  function chips() {
    var box = document.getElementById("state-filter");
    box.textContent = "";
    FILTERS.forEach(function (f) {
      var n = st.shots.filter(function (s) { return !f.states || f.states.indexOf(s.state) >= 0; }).length;
      box.appendChild(h("button", {
        type: "button", "class": "chip", "data-filter": f.key,
        "aria-pressed": st.filter === f.key ? "true" : "false",
        onclick: function () { st.filter = f.key; chips(); render(); },
      }, [f.label + " ", h("span", { "class": "n", text: String(n) })]));
    });
  }

  function visible() {
    return st.shots.filter(matches).map(function (s) { return s.shot_id; });
  }

  function render() {
    var ids = visible();
    ids.forEach(function (id) {
      var card = st.cards[id] || makeCard(st.byId[id]);
      grid.appendChild(card); // appending keeps the manifest order
      card.hidden = false;
    });
    Object.keys(st.cards).forEach(function (id) {
      if (ids.indexOf(id) < 0) {
        st.cards[id].hidden = true;
        var v = st.cards[id].querySelector("video");
        if (v) v.pause();
      }
    });
    empty.hidden = ids.length > 0;
    if (!st.selected || ids.indexOf(st.selected) < 0) select(ids[0] || null, false);
  }

  // --- cards --------------------------------------------------------------------------------------

  function makeCard(s) {
    var id = s.shot_id;
    var media = h("div", { "class": "media" });
    if (s.output) {
      var src = vg.fileUrl(s.output) + "?v=" + (s.attempts || 0);
      // The video loads when its card comes into view (a batch may have hundreds).
      var video = h("video", { muted: true, loop: true, playsinline: true, preload: "none",
        "data-src": src, "aria-label": "video of " + id });
      video.muted = true;
      media.appendChild(video);
    } else {
      var what = s.state === "running" ? "running" + (s.stage ? " · " + s.stage : "")
        : s.state === "failed" ? "failed" : s.state;
      media.appendChild(h("div", { "class": "placeholder" }, [
        h("span", { "class": "badge s-" + s.state, text: what }),
      ]));
    }
    var corner = h("div", { "class": "corner" });
    if (s.verdict) corner.appendChild(h("span", { "class": "badge v-" + s.verdict, text: "QC " + s.verdict }));
    media.appendChild(corner);

    var reasons = h("ul", { "class": "reasons" });
    var list = s.reasons || [];
    list.forEach(function (r, i) {
      var cut = r.indexOf(": ");
      var item = h("li", { "class": s.verdict === "fail" ? "fail" : "warn", title: r,
        hidden: i >= SHOWN_REASONS && list.length > SHOWN_REASONS + 1 },
        cut > 0 && cut < 40 ? [h("b", { text: r.slice(0, cut) }), r.slice(cut)] : [r]);
      reasons.appendChild(item);
    });
    if (list.length > SHOWN_REASONS + 1) {
      var more = h("button", { type: "button", "class": "more", text: "+ " + (list.length - SHOWN_REASONS) + " more",
        onclick: function () {
          Array.prototype.forEach.call(reasons.querySelectorAll("li[hidden]"), function (li) { li.hidden = false; });
          more.remove();
        } });
      reasons.appendChild(h("li", { "class": "more-line" }, [more]));
    }
    if (s.state === "failed" && (s.error_class || s.error_message)) {
      reasons.appendChild(h("li", { "class": "error-line", title: s.error_message || "" },
        [(s.error_class ? s.error_class + ": " : "") + (s.error_message || "")]));
    }

    var note = h("input", { type: "text", placeholder: "note (optional)", "aria-label": "note for " + id,
      "class": "note", maxlength: "500" });
    var reviewable = FINISHED.indexOf(s.state) >= 0;
    var regen = ["done", "flagged", "failed", "accepted", "rejected"].indexOf(s.state) >= 0;
    var btn = function (decision, label, key, enabled, cls) {
      return h("button", { type: "button", "data-decision": decision, disabled: !enabled,
        "class": cls || null, title: label + " (" + key + ")",
        onclick: function () { decide(id, decision, false); } }, [label]);
    };
    var accept = btn("accept", "Accept", "A", reviewable, s.state === "accepted" ? "on-accepted" : null);
    var reject = btn("reject", "Reject", "R", reviewable, s.state === "rejected" ? "on-rejected" : null);
    var again = btn("regenerate", "Regenerate", "G", regen);

    var stateText = s.state === "running" && s.stage ? "running · " + s.stage : s.state;
    var card = h("article", { "class": "card", "data-shot": id, "data-state": s.state,
      "aria-label": "shot " + id }, [
      media,
      h("div", { "class": "body" }, [
        h("div", { "class": "title" }, [
          h("span", { "class": "sid", text: id, title: id }),
          h("span", { "class": "badge s-" + s.state, "data-role": "state", text: stateText }),
          h("span", { "class": "meta", text: "seed " + s.seed + (s.attempts > 1 ? " · try " + s.attempts : "") }),
        ]),
        reasons,
        h("div", { "class": "frames", "data-role": "frames", hidden: true }),
        h("div", { "class": "foot" }, [
          note,
          h("div", { "class": "actions" }, [accept, reject, again, h("span", { "class": "spacer" }),
            h("a", { href: "/b/" + vg.enc(vg.batch) + "/motion/" + vg.enc(id), "class": "edit-link",
              title: "Edit the motion (M)", text: "motion ↗" })]),
        ]),
      ]),
    ]);
    card.addEventListener("mouseenter", function () { play(card, true); });
    card.addEventListener("mouseleave", function () { if (st.selected !== id) play(card, false); });
    card.addEventListener("click", function (e) {
      if (e.target.closest("button, a, input")) { if (st.selected !== id) select(id, false); return; }
      select(id, false);
    });
    note.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === "Escape") { e.preventDefault(); note.blur(); }
    });
    st.cards[id] = card;
    if (st.observer) st.observer.observe(card);
    else { loadVideo(card); detail(id); }
    return card;
  }

  function replaceCard(s) {
    var old = st.cards[s.shot_id];
    var noteText = old ? old.querySelector("input.note").value : "";
    if (st.observer && old) st.observer.unobserve(old);
    delete st.cards[s.shot_id];
    var card = makeCard(s);
    card.querySelector("input.note").value = noteText;
    if (old && old.parentNode) old.parentNode.replaceChild(card, old);
    if (st.selected === s.shot_id) card.classList.add("selected");
  }

  // The frames that failing or warning checks name, as links that seek the video
  // (ranges of neighbours; each link's title says which checks flagged it).
  function fillFrames(card, d) {
    var box = card.querySelector('[data-role="frames"]');
    if (!box || !d || !d.qc) return;
    var fps = d.fps || (d.meta && d.meta.video && d.meta.video.fps) || 24;
    var checks = d.qc.checks || {};
    var list = Array.isArray(checks) ? checks : Object.keys(checks).map(function (k) {
      return Object.assign({ name: k }, checks[k]);
    });
    var byFrame = {};
    list.forEach(function (c) {
      if (!c.frames || !c.frames.length || c.verdict === "pass") return;
      c.frames.forEach(function (f) { (byFrame[f] = byFrame[f] || []).push(c.name); });
    });
    var frames = Object.keys(byFrame).map(Number);
    box.textContent = "";
    if (!frames.length) { box.hidden = true; return; }
    box.appendChild(h("span", { "class": "check", text: "flagged frames" }));
    var all = ranges(frames);
    all.slice(0, MAX_RANGES).forEach(function (r) {
      var names = [];
      for (var f = r[0]; f <= r[1]; f++) {
        byFrame[f].forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); });
      }
      var text = r[0] === r[1] ? String(r[0]) : r[0] + "–" + r[1];
      box.appendChild(h("a", { href: "#", "data-frame": String(r[0]),
        title: "frame " + text + " (" + (r[0] / fps).toFixed(2) + " s): " + names.join(", "),
        onclick: function (e) {
          e.preventDefault();
          seek(card, r[0], fps);
        } }, [text]));
    });
    if (all.length > MAX_RANGES) box.appendChild(h("span", { "class": "faint", text: "+" + (all.length - MAX_RANGES) }));
    box.hidden = false;
  }

  function ranges(frames) {
    var sorted = frames.slice().sort(function (a, b) { return a - b; });
    var out = [];
    sorted.forEach(function (f) {
      var last = out[out.length - 1];
      if (last && f === last[1] + 1) last[1] = f;
      else if (!last || f !== last[1]) out.push([f, f]);
    });
    return out;
  }

  function seek(card, frame, fps) {
    var v = card.querySelector("video");
    if (!v) return;
    loadVideo(card);
    select(card.getAttribute("data-shot"), false);
    v.pause();
    // the middle of the frame, so that rounding never shows its neighbour
    var t = (frame + 0.5) / fps;
    var go = function () { v.currentTime = Math.min(t, (v.duration || t) - 0.001); };
    if (v.readyState >= 1) go();
    else v.addEventListener("loadedmetadata", go, { once: true });
  }

  function play(card, on) {
    var v = card && card.querySelector("video");
    if (!v) return;
    if (on) loadVideo(card);
    if (on) {
      var p = v.play();
      if (p && p.catch) p.catch(function () {});
    } else {
      v.pause();
    }
  }

  // --- selection and decisions --------------------------------------------------------------------

  function select(id, scroll) {
    if (st.selected && st.cards[st.selected]) {
      st.cards[st.selected].classList.remove("selected");
      play(st.cards[st.selected], false);
    }
    st.selected = id;
    var card = id && st.cards[id];
    if (!card) return;
    card.classList.add("selected");
    if (scroll !== false) card.scrollIntoView({ block: "nearest", behavior: "smooth" });
    if (scroll !== false) play(card, true);
  }

  function columns() {
    var ids = visible().filter(function (id) { return st.cards[id] && !st.cards[id].hidden; });
    if (ids.length < 2) return 1;
    var top = st.cards[ids[0]].offsetTop;
    var n = 0;
    for (var i = 0; i < ids.length; i++) {
      if (st.cards[ids[i]].offsetTop !== top) break;
      n++;
    }
    return Math.max(1, n);
  }

  function move(delta) {
    var ids = visible();
    if (!ids.length) return;
    var i = ids.indexOf(st.selected);
    var j = i < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, i + delta));
    select(ids[j]);
  }

  function decide(id, decision, advance) {
    var card = st.cards[id];
    var s = st.byId[id];
    if (!card || !s || st.busy[id]) return Promise.resolve();
    var button = card.querySelector('button[data-decision="' + decision + '"]');
    if (button && button.disabled) {
      vg.toast("info", decision === "regenerate" ? "This shot is still in the queue" :
        "Only a finished shot can be " + decision + "ed", id + " is " + s.state);
      return Promise.resolve();
    }
    var note = card.querySelector("input.note").value;
    st.busy[id] = true;
    var next = advance ? nextOpen(id) : null;
    return vg.post(vg.batchPath() + "/shots/" + vg.enc(id) + "/decision",
      { decision: decision, note: note }).then(function (res) {
      var updated = Object.assign({}, s, {
        state: res.state || s.state,
        review: res.review === undefined ? s.review : res.review,
        seed: res.seed === undefined ? s.seed : res.seed,
      });
      if (decision === "regenerate") {
        updated.output = s.output; // the old video stays visible until the new one exists
        updated.verdict = null;
        updated.reasons = [];
      }
      st.byId[id] = updated;
      st.shots = st.shots.map(function (x) { return x.shot_id === id ? updated : x; });
      replaceCard(updated);
      var what = decision === "accept" ? "Accepted" : decision === "reject" ? "Rejected"
        : "Queued again with seed " + updated.seed;
      vg.toast("ok", what + " · " + id, note ? "note: " + note : "");
      chips();
      render();
      if (next) select(next);
      return vg.get(vg.batchPath(), { quiet: true }).then(header, function () {});
    }).then(function () { st.busy[id] = false; }, function () { st.busy[id] = false; });
  }

  // The next card after `id` that still waits for a decision (or simply the next one).
  function nextOpen(id) {
    var ids = visible();
    var i = ids.indexOf(id);
    for (var j = i + 1; j < ids.length; j++) {
      var s = st.byId[ids[j]];
      if (s && (s.state === "done" || s.state === "flagged")) return ids[j];
    }
    return ids[i + 1] || null;
  }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var sheet = document.getElementById("keys");
    if (sheet && !sheet.hidden && e.key === "Escape") { sheet.hidden = true; return; }
    if (vg.typing(e)) return;
    var k = e.key;
    var id = st.selected;
    if (k === "ArrowRight") { e.preventDefault(); move(1); }
    else if (k === "ArrowLeft") { e.preventDefault(); move(-1); }
    else if (k === "ArrowDown") { e.preventDefault(); move(columns()); }
    else if (k === "ArrowUp") { e.preventDefault(); move(-columns()); }
    else if (!id) return;
    else if (k === "a" || k === "A") { e.preventDefault(); decide(id, "accept", true); }
    else if (k === "r" || k === "R") { e.preventDefault(); decide(id, "reject", true); }
    else if (k === "g" || k === "G") { e.preventDefault(); decide(id, "regenerate", false); }
    else if (k === "n" || k === "N") {
      e.preventDefault();
      var input = st.cards[id] && st.cards[id].querySelector("input.note");
      if (input) input.focus();
    } else if (k === " ") {
      if (e.target && e.target.tagName === "BUTTON" && e.target.matches(":focus-visible")) return;
      e.preventDefault();
      var v = st.cards[id] && st.cards[id].querySelector("video");
      if (v) play(st.cards[id], v.paused);
    } else if (k === "m" || k === "M") {
      location.href = "/b/" + vg.enc(vg.batch) + "/motion/" + vg.enc(id);
    }
  }

  function init() {
    grid = document.getElementById("grid");
    empty = document.getElementById("empty");
    if ("IntersectionObserver" in window) {
      st.observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (en) {
          if (en.isIntersecting) {
            loadVideo(en.target);
            detail(en.target.getAttribute("data-shot"));
            st.observer.unobserve(en.target);
          }
        });
      }, { rootMargin: "300px" });
    }
    document.getElementById("verdict-filter").addEventListener("change", function (e) {
      st.verdict = e.target.value;
      render();
    });
    document.addEventListener("keydown", onKey);
    refresh().then(null, function () {});
    setInterval(function () {
      if (!document.hidden) refresh().then(null, function () {});
    }, REFRESH_MS);
  }

  window.vgReview = { state: st, decide: decide, refresh: refresh };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
