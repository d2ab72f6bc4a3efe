// The analytics dashboard: asks for a gateway key (kept in this tab's sessionStorage), fetches
// GET /api/ai/analytics?days=N&detailed=true with it and draws the report with uPlot. Hand-written, no
// build step. Data only ever enters the page through textContent and uPlot, never as HTML.
// Each chart element gets data-points (the API values it drew) and data-colors (its series colours),
// and <body data-state> says where the page is: need-key, loading, ready or error.
(function () {
  "use strict";

  const KEY = "ai-gateway.dashboard.key";
  const DAYS = "ai-gateway.dashboard.days";
  const API = "/api/ai/analytics";
  const DAY = 86400;
  const HEIGHT = 260;
  const PROVIDER_COLORS = { OPENAI: "#10a37f", ANTHROPIC: "#c2410c", GOOGLE: "#2563eb" };
  const EXTRA_COLORS = ["#7c3aed", "#db2777", "#0891b2", "#65a30d"];
  const COLORS = {
    requests: "#2563eb",
    errors: "#dc2626",
    latencyP50: "#2563eb",
    latencyP95: "#1e3a8a",
    ttftP50: "#f59e0b",
    ttftP95: "#b45309",
    cache: "#059669",
    history: "#2563eb",
    projection: "#7c3aed",
    band: "rgba(124, 58, 237, 0.15)",
  };

  const $ = (id) => document.getElementById(id);
  let charts = [];
  let lastReport = null;

  // --- formatting ---------------------------------------------------------------------------------

  function usd(value) {
    if (value == null || !isFinite(value)) return "–";
    const abs = Math.abs(value);
    const digits = abs === 0 ? 2 : abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
    return "$" + value.toFixed(digits);
  }

  // Axis ticks: as few decimals as the step needs ($0.004, $0.25, $12).
  function usdTick(value) {
    if (value == null || !isFinite(value)) return "";
    if (value === 0) return "$0";
    return "$" + Number(value.toPrecision(6)).toString();
  }

  function pct(value) {
    if (value == null || !isFinite(value)) return "–";
    return (value * 100).toFixed(value * 100 >= 10 || value === 0 ? 0 : 1) + "%";
  }

  function ms(value) {
    if (value == null || !isFinite(value)) return "–";
    return value >= 1000 ? (value / 1000).toFixed(2) + " s" : Math.round(value) + " ms";
  }

  function count(value) {
    return value == null ? "–" : Number(value).toLocaleString("en-US");
  }

  function dayOf(iso) {
    return Date.parse(iso.slice(0, 10) + "T00:00:00Z") / 1000;
  }

  function isoDay(seconds) {
    return new Date(seconds * 1000).toISOString().slice(0, 10);
  }

  function providerColor(name, index) {
    return PROVIDER_COLORS[name] || EXTRA_COLORS[index % EXTRA_COLORS.length];
  }

  // --- page state ---------------------------------------------------------------------------------

  function setState(state) {
    document.body.dataset.state = state;
  }

  function showMessage(text, kind) {
    const box = $("message");
    box.textContent = text;
    box.classList.toggle("info", kind === "info");
    box.hidden = !text;
  }

  function askForKey(reason) {
    destroyCharts();
    $("report").hidden = true;
    $("controls").hidden = true;
    $("login").hidden = false;
    showMessage(reason || "", "error");
    setState("need-key");
    $("key").focus();
  }

  function forgetKey() {
    sessionStorage.removeItem(KEY);
    $("key").value = "";
    askForKey("");
    showMessage("The key was removed from this tab.", "info");
  }

  function selectedDays() {
    const days = Number($("days").value);
    return [7, 30, 90].includes(days) ? days : 30;
  }

  // --- fetching -----------------------------------------------------------------------------------

  async function load() {
    const key = sessionStorage.getItem(KEY);
    if (!key) {
      askForKey("");
      return;
    }
    $("login").hidden = true;
    $("controls").hidden = false;
    setState("loading");
    showMessage("Loading…", "info");
    let response;
    try {
      response = await fetch(`${API}?days=${selectedDays()}&detailed=true`, {
        headers: { Authorization: "Bearer " + key, Accept: "application/json" },
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch (error) {
      fail(`Could not reach the gateway (${error.message}).`);
      return;
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    const detail = body && body.error && body.error.message ? body.error.message : response.statusText;
    if (response.status === 401 || response.status === 403) {
      sessionStorage.removeItem(KEY);
      const why = response.status === 401 ? "The gateway did not accept this key" : "This key lacks the analytics scope";
      askForKey(`${why} (${response.status}: ${detail}). Enter a gateway key with the analytics scope.`);
      return;
    }
    if (response.status === 503) {
      fail(`Analytics are unavailable right now (503: ${detail}). Try again shortly with Refresh.`);
      return;
    }
    if (!response.ok || body === null) {
      fail(`The analytics API answered ${response.status}: ${detail}`);
      return;
    }
    lastReport = body;
    showMessage("");
    render(body);
  }

  function fail(text) {
    destroyCharts();
    $("report").hidden = true;
    showMessage(text, "error");
    setState("error");
  }

  // --- rendering ----------------------------------------------------------------------------------

  function destroyCharts() {
    charts.forEach((chart) => chart.destroy());
    charts = [];
  }

  function render(report) {
    destroyCharts();
    $("report").hidden = false;
    const period = report.period;
    const who = period.user ? `user ${period.user} of tenant ${period.tenant}` : `tenant ${period.tenant}`;
    $("period").textContent =
      `${period.days} UTC days, ${period.since.slice(0, 10)} to ${isoDay(dayOf(period.until) - DAY)}, ${who}`;
    renderTiles(report);
    const days = dayRange(period);
    costChart(report, days);
    requestsChart(report, days);
    latencyChart(report);
    cacheChart(report);
    projectionChart(report, days);
    setState("ready");
  }

  function dayRange(period) {
    const first = dayOf(period.since);
    return Array.from({ length: period.days }, (_, i) => first + i * DAY);
  }

  function tile(label, value, sub) {
    const box = document.createElement("div");
    box.className = "tile";
    for (const [cls, text] of [["label", label], ["value", value], ["sub", sub || ""]]) {
      const part = document.createElement("div");
      part.className = cls;
      part.textContent = text;
      box.append(part);
    }
    return box;
  }

  function renderTiles(report) {
    const perf = report.performance;
    const p = report.predictions;
    const uncertainty = p.uncertainty || {};
    $("tiles").replaceChildren(
      tile("Requests", count(report.usage.requests), `${count(report.usage.errors)} errors`),
      tile("Error rate", pct(perf.errorRate)),
      tile("Cost", usd(Number(report.costs.total)), `${count(report.costs.unpricedRequests)} unpriced requests`),
      tile("Latency p50 / p95", `${ms(perf.latencyMs.p50)} / ${ms(perf.latencyMs.p95)}`),
      tile("TTFT p50 / p95 (streams)", `${ms(perf.ttftMs.p50)} / ${ms(perf.ttftMs.p95)}`),
      tile("Cache hit rate", pct(perf.cacheHitRate), `${count(report.usage.cacheHits)} hits`),
      tile("Saved by the cache", usd(Number(report.costs.savings.cache))),
      tile(
        `Projected cost, next ${p.horizonDays} days`,
        p.cost == null ? "no data yet" : usd(Number(p.cost)),
        p.cost == null ? "" : `95%: ${usd(Number(uncertainty.low))} to ${usd(Number(uncertainty.high))}`,
      ),
    );
  }

  function mark(target, points, colors) {
    target.dataset.points = String(points);
    target.dataset.colors = JSON.stringify(colors);
  }

  function empty(target, text) {
    target.replaceChildren();
    const note = document.createElement("p");
    note.className = "empty";
    note.textContent = text;
    target.append(note);
    mark(target, 0, []);
  }

  function axisSize(u, values) {
    if (!values) return 40;
    const longest = Math.max(...values.map((v) => String(v).length));
    return Math.max(40, longest * 7 + 18);
  }

  function draw(target, options, data) {
    target.replaceChildren();
    const width = Math.max(280, target.clientWidth);
    const chart = new uPlot({ width, height: HEIGHT, ...options }, data, target);
    charts.push(chart);
    return chart;
  }

  const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");

  function dayAxis() {
    return { values: (u, splits) => splits.map((s) => isoDay(s).slice(5)) };
  }

  function costChart(report, days) {
    const target = $("chart-cost");
    // Requests that reached no provider cost nothing by definition: not a line of their own.
    const rows = (report.costs.byDayProvider || []).filter((r) => r.provider);
    const providers = [...new Set(rows.map((r) => r.provider))].sort();
    if (!rows.length) return empty(target, "No cost in this period.");
    const index = new Map(days.map((d, i) => [d, i]));
    const series = providers.map(() => days.map(() => 0));
    for (const row of rows) {
      const i = index.get(dayOf(row.date));
      if (i !== undefined) series[providers.indexOf(row.provider)][i] += Number(row.cost);
    }
    const colors = providers.map(providerColor);
    draw(
      target,
      {
        tzDate: utc,
        scales: { x: { time: true } },
        series: [
          { label: "day", value: (u, v) => (v == null ? "–" : isoDay(v)) },
          ...providers.map((name, i) => ({
            label: name,
            stroke: colors[i],
            width: 2,
            points: { show: true, size: 5 },
            value: (u, v) => usd(v),
          })),
        ],
        axes: [dayAxis(), { values: (u, splits) => splits.map(usdTick), size: axisSize }],
      },
      [days, ...series],
    );
    mark(target, rows.length, colors);
  }

  function requestsChart(report, days) {
    const target = $("chart-requests");
    const rows = report.usage.byDay || [];
    if (!rows.length) return empty(target, "No requests in this period.");
    const index = new Map(days.map((d, i) => [d, i]));
    const requests = days.map(() => 0);
    const errorRate = days.map(() => null);
    for (const row of rows) {
      const i = index.get(dayOf(row.date));
      if (i === undefined) continue;
      requests[i] = row.requests;
      errorRate[i] = row.requests ? row.errors / row.requests : null;
    }
    const colors = [COLORS.requests, COLORS.errors];
    draw(
      target,
      {
        tzDate: utc,
        scales: { x: { time: true }, rate: { range: (u, min, max) => [0, Math.max(0.05, max * 1.2)] } },
        series: [
          { label: "day", value: (u, v) => (v == null ? "–" : isoDay(v)) },
          {
            label: "requests",
            stroke: colors[0],
            fill: "rgba(37, 99, 235, 0.08)",
            width: 2,
            points: { show: true, size: 5 },
            value: (u, v) => count(v),
          },
          {
            label: "error rate",
            stroke: colors[1],
            width: 2,
            dash: [6, 4],
            scale: "rate",
            spanGaps: false,
            points: { show: true, size: 6 },
            value: (u, v) => pct(v),
          },
        ],
        axes: [
          dayAxis(),
          { values: (u, splits) => splits.map(count), size: axisSize },
          { scale: "rate", side: 1, grid: { show: false }, values: (u, splits) => splits.map(pct), size: axisSize },
        ],
      },
      [days, requests, errorRate],
    );
    mark(target, rows.length, colors);
  }

  function categoryOptions(names, width) {
    const crowded = names.length * 120 > width;
    return {
      scales: { x: { time: false, range: () => [-0.5, names.length - 0.5] } },
      axes: [
        {
          splits: () => names.map((_, i) => i),
          values: (u, splits) => splits.map((i) => names[i] || ""),
          grid: { show: false },
          rotate: crowded ? -30 : 0,
          size: crowded ? 90 : 40,
        },
      ],
    };
  }

  function modelLabel(row, rows) {
    const twice = rows.filter((r) => r.model === row.model).length > 1;
    return twice ? `${row.model} (${row.provider})` : row.model || "?";
  }

  function latencyChart(report) {
    const target = $("chart-latency");
    const rows = (report.performance.byModel || []).filter((r) => r.latencyMs.p50 != null);
    if (!rows.length) return empty(target, "No served requests in this period.");
    const names = rows.map((r) => modelLabel(r, rows));
    // p95 as rings drawn first, p50 as dots on top: equal percentiles (one request) stay both visible.
    const values = [
      rows.map((r) => r.latencyMs.p95),
      rows.map((r) => r.latencyMs.p50),
      rows.map((r) => r.ttftMs.p95),
      rows.map((r) => r.ttftMs.p50),
    ];
    const labels = ["latency p95", "latency p50", "TTFT p95", "TTFT p50"];
    const colors = [COLORS.latencyP95, COLORS.latencyP50, COLORS.ttftP95, COLORS.ttftP50];
    const base = categoryOptions(names, target.clientWidth);
    draw(
      target,
      {
        scales: { ...base.scales, y: { range: (u, min, max) => [0, Math.max(10, max * 1.15)] } },
        series: [
          { label: "model", value: (u, v) => (v == null ? "–" : names[v]) },
          ...labels.map((label, i) => ({
            label,
            stroke: colors[i],
            fill: colors[i],
            paths: () => null,
            points: i % 2
              ? { show: true, size: 7, width: 1, fill: colors[i], stroke: colors[i] }
              : { show: true, size: 14, width: 2.5, fill: "#ffffff", stroke: colors[i] },
            value: (u, v) => ms(v),
          })),
        ],
        axes: [base.axes[0], { values: (u, splits) => splits.map(ms), size: axisSize }],
      },
      [names.map((_, i) => i), ...values],
    );
    mark(target, values.flat().filter((v) => v != null).length, colors);
  }

  function cacheChart(report) {
    const target = $("chart-cache");
    const rows = (report.performance.byModel || []).filter((r) => r.model);
    if (!rows.length) return empty(target, "No requests reached a model in this period.");
    const names = rows.map((r) => modelLabel(r, rows));
    const colors = [COLORS.cache];
    const base = categoryOptions(names, target.clientWidth);
    draw(
      target,
      {
        scales: { ...base.scales, y: { range: (u, min, max) => [0, Math.max(0.1, Math.min(1, max * 1.2))] } },
        series: [
          { label: "model", value: (u, v) => (v == null ? "–" : names[v]) },
          {
            label: `cache hit rate (all: ${pct(report.performance.cacheHitRate)}, saved ${usd(Number(report.costs.savings.cache))})`,
            stroke: colors[0],
            fill: colors[0],
            paths: uPlot.paths.bars({ size: [0.5, 64] }),
            points: { show: false },
            value: (u, v) => pct(v),
          },
        ],
        axes: [base.axes[0], { values: (u, splits) => splits.map(pct), size: axisSize }],
      },
      [names.map((_, i) => i), rows.map((r) => r.cacheHitRate)],
    );
    mark(target, rows.length, colors);
  }

  function projectionChart(report, days) {
    const target = $("chart-projection");
    const p = report.predictions;
    const rows = report.costs.byDay || [];
    const note = $("projection-note");
    note.textContent = "";
    if (!rows.length) return empty(target, "No cost history to project from.");
    const today = days[days.length - 1];
    const horizon = p.cost == null ? 0 : p.horizonDays;
    const x = [...days, ...Array.from({ length: horizon }, (_, i) => today + (i + 1) * DAY)];
    const history = x.map((d) => (d <= today ? 0 : null));
    const index = new Map(days.map((d, i) => [d, i]));
    for (const row of rows) {
      const i = index.get(dayOf(row.date));
      if (i !== undefined) history[i] = Number(row.cost);
    }
    const perDay = (total) => (total == null ? null : Number(total) / p.horizonDays);
    const future = (value) => x.map((d) => (d > today ? value : null));
    const mean = future(perDay(p.cost));
    const low = future(perDay(p.uncertainty.low));
    const high = future(perDay(p.uncertainty.high));
    const colors = [COLORS.history, COLORS.projection];
    draw(
      target,
      {
        tzDate: utc,
        scales: { x: { time: true } },
        series: [
          { label: "day", value: (u, v) => (v == null ? "–" : isoDay(v)) },
          { label: "daily cost", stroke: colors[0], width: 2, points: { show: true, size: 5 }, value: (u, v) => usd(v) },
          { label: "projected per day", stroke: colors[1], width: 2, dash: [8, 4], value: (u, v) => usd(v) },
          { label: "95% low", stroke: COLORS.band, width: 1, value: (u, v) => usd(v) },
          { label: "95% high", stroke: COLORS.band, width: 1, value: (u, v) => usd(v) },
        ],
        bands: [{ series: [4, 3], fill: COLORS.band }],
        axes: [dayAxis(), { values: (u, splits) => splits.map(usdTick), size: axisSize }],
      },
      [x, history, mean, low, high],
    );
    mark(target, rows.length + (horizon ? horizon : 0), colors);
    note.textContent =
      p.cost == null
        ? "Not enough history for a projection yet."
        : `Next ${p.horizonDays} days: ${usd(Number(p.cost))} (95%: ${usd(Number(p.uncertainty.low))} to ` +
          `${usd(Number(p.uncertainty.high))}), method ${p.method.replace("_", " ")} over ${p.basisDays} days. ` +
          "The band leaves out the uncertainty of the fit itself.";
  }

  // --- wiring -------------------------------------------------------------------------------------

  function start() {
    const saved = Number(sessionStorage.getItem(DAYS));
    if ([7, 30, 90].includes(saved)) $("days").value = String(saved);
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY, key);
      $("key").value = "";
      load();
    });
    $("days").addEventListener("change", () => {
      sessionStorage.setItem(DAYS, String(selectedDays()));
      load();
    });
    $("refresh").addEventListener("click", load);
    $("forget").addEventListener("click", forgetKey);
    let pending = 0;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(() => lastReport && document.body.dataset.state === "ready" && render(lastReport), 150);
    });
    load();
  }

  if (typeof uPlot === "undefined") {
    document.addEventListener("DOMContentLoaded", () => fail("The chart library did not load."));
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
