// vidgen studio: the batch dashboard. Polls the API every 2 s while a worker runs
// (every 10 s otherwise) and starts or stops the local worker.
(function () {
  "use strict";

  var vg = window.vg;
  var h = vg.h;
  var FAST = 2000, SLOW = 10000;
  var STAGE_ORDER = ["claimed", "load", "generate", "reframe", "interpolate", "encode", "qc", "write"];
  var st = { timer: 0, data: null, busy: false };
  var $ = function (id) { return document.getElementById(id); };

  function setText(id, text) { $(id).textContent = text; }

  function money(x) {
    if (x === null || x === undefined || isNaN(x)) return "–";
    return "$" + (x >= 100 ? Math.round(x).toLocaleString() : Number(x).toFixed(2));
  }

  function when(at) {
    if (at === null || at === undefined || at === "") return "";
    var d = typeof at === "number" ? new Date(at * 1000) : new Date(at);
    if (isNaN(d.getTime())) return String(at);
    var ago = (Date.now() - d.getTime()) / 1000;
    if (ago < 90) return Math.max(0, Math.round(ago)) + " s ago";
    if (ago < 3600 * 20) return vg.duration(ago).replace(/ \d+ s$/, "") + " ago";
    return d.toLocaleString();
  }

  function pctValue(p) {
    if (p === null || p === undefined || isNaN(p)) return "–";
    return (p < 10 && p > 0 ? Number(p).toFixed(1) : Math.round(p)) + "%";
  }

  function render(d) {
    st.data = d;
    var c = d.counts || {};
    var total = d.total || vg.STATES.reduce(function (n, s) { return n + (c[s] || 0); }, 0);
    var ended = total - (c.queued || 0) - (c.running || 0);
    setText("k-progress", ended + " / " + total);
    setText("k-progress-sub", (total ? Math.round(100 * ended / total) : 0) + "% finished" +
      (c.failed ? " · " + c.failed + " failed" : ""));
    setText("k-rate", d.per_hour === null || d.per_hour === undefined ? "–" :
      (d.per_hour >= 100 ? Math.round(d.per_hour) : Number(d.per_hour).toFixed(1)));
    var remaining = (c.queued || 0) + (c.running || 0);
    setText("k-eta", remaining === 0 ? "done" : vg.duration(d.eta_sec));
    setText("k-eta-sub", remaining ? remaining + " shot" + (remaining > 1 ? "s" : "") + " to go" : "queue empty");
    setText("k-cost", money(d.cost_usd));
    setText("k-cost-sub", d.hourly_usd ? "at " + money(d.hourly_usd) + " per hour" : "no hourly price set");
    setText("k-accept", vg.pct(d.acceptance_rate));
    setText("k-accept-sub", ((c.accepted || 0) + (c.rejected || 0)) + " reviewed");
    setText("k-flagged", pctValue(d.flagged_pct));

    // the stacked bar and its legend
    var stack = $("stack"), legend = $("legend");
    stack.textContent = "";
    legend.textContent = "";
    vg.STATES.forEach(function (s) {
      var n = c[s] || 0;
      if (n) {
        var seg = h("span", { "class": "bg-" + s, title: s + ": " + n });
        seg.style.width = (100 * n / (total || 1)) + "%";
        stack.appendChild(seg);
      }
      legend.appendChild(h("span", { "data-state": s, "class": n ? "" : "faint" }, [
        h("span", { "class": "dot bg-" + s }), s + " ", h("b", { text: String(n) }),
      ]));
    });
    stack.setAttribute("aria-label", vg.STATES.map(function (s) { return s + " " + (c[s] || 0); }).join(", "));

    renderWorker(d.worker || {});
    renderStages(d.stage_means || {});
    renderRunning(d.running || []);
    renderFailures(d.recent_failures || []);
    setText("updated", "updated " + new Date().toLocaleTimeString());
  }

  function renderWorker(w) {
    var box = $("worker-state");
    box.classList.toggle("on", !!w.running);
    box.classList.toggle("off", !w.running);
    box.setAttribute("data-running", w.running ? "true" : "false");
    setText("worker-text", w.running ? "running" : "stopped");
    var meta = [];
    if (w.pid) meta.push("pid " + w.pid);
    if (w.started_at) meta.push("started " + when(w.started_at));
    if (!w.running && w.exit_code !== null && w.exit_code !== undefined) meta.push("exit code " + w.exit_code);
    setText("worker-meta", meta.join(" · ") || "no worker started from the studio");
    if (!st.busy) {
      $("start").disabled = !!w.running;
      $("stop").disabled = !w.running;
    }
  }

  function renderStages(means) {
    var box = $("stages");
    box.textContent = "";
    var names = Object.keys(means).filter(function (k) { return k !== "total"; });
    names.sort(function (a, b) {
      var ia = STAGE_ORDER.indexOf(a), ib = STAGE_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    if (!names.length) {
      box.appendChild(h("p", { "class": "empty", text: "No finished shot yet." }));
      return;
    }
    var max = Math.max.apply(null, names.map(function (k) { return means[k] || 0; })) || 1;
    names.forEach(function (k) {
      var fill = h("div", { "class": "fill" });
      fill.style.width = Math.max(0.5, 100 * (means[k] || 0) / max) + "%";
      box.appendChild(h("div", { "class": "bar-row", "data-stage": k }, [
        h("span", { "class": "name", text: k }),
        h("div", { "class": "track" }, [fill]),
        h("span", { "class": "val", text: secs(means[k]) }),
      ]));
    });
    if (means.total !== undefined) {
      box.appendChild(h("div", { "class": "bar-row total" }, [
        h("span", { "class": "name", text: "per shot" }), h("span", { "class": "muted", text: "" }),
        h("span", { "class": "val", text: secs(means.total) }),
      ]));
    }
  }

  function secs(x) {
    if (x === null || x === undefined) return "–";
    return x >= 100 ? vg.duration(x) : x >= 10 ? x.toFixed(1) + " s" : x.toFixed(2) + " s";
  }

  function renderRunning(rows) {
    var body = $("running").querySelector("tbody");
    body.textContent = "";
    rows.forEach(function (r) {
      body.appendChild(h("tr", { "data-shot": r.shot_id }, [
        h("td", { "class": "mono", text: r.shot_id }),
        h("td", {}, [h("span", { "class": "badge s-running", text: r.stage || "starting" })]),
        h("td", { "class": "muted mono", text: r.worker || "" }),
      ]));
    });
    $("running").hidden = !rows.length;
    $("running-empty").hidden = !!rows.length;
  }

  function renderFailures(rows) {
    var body = $("failures").querySelector("tbody");
    body.textContent = "";
    rows.forEach(function (r) {
      body.appendChild(h("tr", { "data-shot": r.shot_id }, [
        h("td", { "class": "mono", text: r.shot_id }),
        h("td", { "class": "err-class", text: r.error_class || "" }),
        h("td", { "class": "fail-msg", text: r.error_message || "" }),
        h("td", { "class": "muted", text: when(r.at) }),
      ]));
    });
    $("failures").hidden = !rows.length;
    $("failures-empty").hidden = !!rows.length;
  }

  function poll() {
    clearTimeout(st.timer);
    return vg.get(vg.batchPath() + "/dashboard", { quiet: !!st.data }).then(function (d) {
      render(d);
      schedule(d.worker && d.worker.running ? FAST : SLOW);
    }, function () { schedule(SLOW); });
  }

  function schedule(ms) {
    clearTimeout(st.timer);
    st.timer = setTimeout(poll, ms);
  }

  function worker(action) {
    st.busy = true;
    $("start").disabled = true;
    $("stop").disabled = true;
    var body = action === "start" ? { workers: Math.max(1, parseInt($("workers").value, 10) || 1) } : {};
    return vg.post(vg.batchPath() + "/worker/" + action, body).then(function (w) {
      vg.toast("ok", action === "start" ? "Worker started" + (w.pid ? " (pid " + w.pid + ")" : "")
        : "Worker stopping: the running shot goes back to the queue");
      if (st.data) { st.data.worker = w; }
      st.busy = false;
      renderWorker(w);
    }, function () { st.busy = false; }).then(poll);
  }

  function init() {
    $("start").addEventListener("click", function () { worker("start"); });
    $("stop").addEventListener("click", function () { worker("stop"); });
    document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
    poll();
  }

  window.vgDashboard = { state: st, poll: poll };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
