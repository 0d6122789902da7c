/*
 * The manager's reports page (/reports, board/reports.py).
 *
 * - Today: the shop's day so far, asked for again (at most once every
 *   REFRESH_GAP_MS) when the staff socket brings an order's change; the
 *   #stale line (live.js) says since when it is old when the socket is lost.
 * - Any range of the shop's days, grouped by day, week or month, compared
 *   with the previous period of the same length: every change in an arrow,
 *   a signed number and a word (better / worse), never by colour alone.
 * - Charts with the vendored Apache ECharts, SVG renderer, a label on every
 *   bar and point; drawn again in print colours for printing. Tooltips are
 *   DOM nodes built with textContent: the page's CSP allows no inline style
 *   attribute, and ECharts' own tooltip markup carries some.
 * - Drill-down: a figure's orders in a table, with CSV and XLSX links.
 * Words come from #strings (rendered by the server in the page's language),
 * the figures from the page's JSON routes; this script computes no figure.
 */
(function (B) {
  "use strict";
  var page = B.page;
  var $ = page.byId;
  var el = page.el;
  var text = B.strings();
  var setup = JSON.parse($("report-setup").textContent);
  var lang = document.documentElement.lang || "en";
  var zoneMeta = document.querySelector('meta[name="baylight-shop-timezone"]');
  var zone = zoneMeta ? zoneMeta.getAttribute("content") : undefined;

  // A burst of order messages (a dispatch moves several) asks once.
  var REFRESH_GAP_MS = 2000;

  // Hours to the quarter (3.25 h), rates to a tenth of a percent.
  var numberFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });
  var pointsFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  var percentFormat = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });

  function fill(template, values) { return B.fill(template, values || {}); }
  function isNumber(value) { return typeof value === "number" && isFinite(value); }

  /* A value at a dotted path of an object ("cycle_minutes.median"). */
  function at(object, path) {
    var found = object;
    String(path).split(".").forEach(function (part) {
      found = found === null || found === undefined ? undefined : found[part];
    });
    return found;
  }

  /* ------------------------------------------------------------ numbers */

  function minutes(value) {
    if (!isNumber(value)) return text.none;
    var whole = Math.round(value);
    if (whole < 60) return fill(text.minutes, { minutes: whole });
    return fill(text.hours_minutes, { hours: Math.floor(whole / 60), minutes: B.pad(whole % 60) });
  }

  function formatted(kind, value) {
    if (!isNumber(value)) return text.none;
    if (kind === "rate") return percentFormat.format(value);
    if (kind === "minutes") return minutes(value);
    if (kind === "hours") return fill(text.hours, { hours: numberFormat.format(value) });
    if (kind === "score") return new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value);
    return numberFormat.format(value);
  }

  /* The kind of a detail line's field, by its name. */
  function fieldKind(name) {
    if (/rate$|^by_value$|^efficiency$/.test(name)) return "rate";
    if (/^(median|p90|mean|average_minutes)$|_minutes$/.test(name)) return "minutes";
    if (/_hours$/.test(name)) return "number";
    return "number";
  }

  /* A detail template's {fields} from the figure's own object. */
  function detail(template, figure) {
    if (!template || !figure || typeof figure !== "object") return "";
    var values = {};
    var missing = false;
    String(template).replace(/\{(\w+)\}/g, function (all, name) {
      var value = figure[name];
      if (value === undefined) missing = true;
      values[name] = formatted(fieldKind(name), value);
      return all;
    });
    return missing ? "" : fill(template, values);
  }

  /* The change from the previous period, in words: arrow, signed amount,
     better/worse. null when either side has nothing to count. */
  function delta(tile, now, before) {
    if (!isNumber(now)) return null;
    if (!isNumber(before)) return { text: text.no_previous, verdict: "none" };
    var change = now - before;
    var shownBefore = formatted(tile.format, before);
    var epsilon = tile.format === "rate" ? 0.0005 : tile.format === "score" ? 0.05 : 0.5;
    if (Math.abs(change) < epsilon) return { text: fill(text.same, { previous: shownBefore }), verdict: "same" };
    var sign = change > 0 ? "+" : "−";
    var size = Math.abs(change);
    var amount;
    if (tile.format === "rate") amount = fill(text.percent_points, { points: pointsFormat.format(size * 100) });
    else if (tile.format === "minutes") amount = minutes(size);
    else if (tile.format === "score") amount = formatted("score", size);
    else amount = numberFormat.format(size);
    var arrow = change > 0 ? "▲" : "▼";
    if (!tile.better) {
      return { text: fill(text.delta_plain, { arrow: arrow, change: sign + amount, previous: shownBefore }), verdict: "plain" };
    }
    var good = (change > 0) === (tile.better === "up");
    return {
      text: fill(text.delta, {
        arrow: arrow,
        change: sign + amount,
        verdict: good ? text.better : text.worse,
        previous: shownBefore
      }),
      verdict: good ? "better" : "worse"
    };
  }

  /* ------------------------------------------------------------ dates */

  function dayMs(iso) {
    var p = String(iso).split("-");
    return Date.UTC(Number(p[0]), Number(p[1]) - 1, Number(p[2]));
  }
  function isoDay(ms) {
    var d = new Date(ms);
    return d.getUTCFullYear() + "-" + B.pad(d.getUTCMonth() + 1) + "-" + B.pad(d.getUTCDate());
  }
  function addDays(iso, days) { return isoDay(dayMs(iso) + days * 86400000); }
  function daysBetween(a, b) { return Math.round((dayMs(b) - dayMs(a)) / 86400000); }

  /* Today on the shop's calendar (live.js formats on the shop's zone). */
  function today() {
    return zone ? B.wallValue(new Date()).slice(0, 10) : setup.today;
  }

  var dateFormat = new Intl.DateTimeFormat(lang, { timeZone: "UTC", year: "numeric", month: "short", day: "numeric" });
  function showDay(iso) { return dateFormat.format(new Date(dayMs(iso))); }

  function periodLabel(period, grouping) {
    var p = String(period.from).split("-");
    var values = { year: p[0], month: Number(p[1]), day: Number(p[2]) };
    if (grouping === "month") return fill(text.period_month, { year: p[0], month: p[1] });
    if (grouping === "week") return fill(text.period_week, values);
    return fill(text.period_day, values);
  }

  function clockNow() {
    return new Date().toLocaleTimeString(lang, {
      timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
    });
  }

  /* ------------------------------------------------------------ requests */

  function query(params) {
    return Object.keys(params).filter(function (key) {
      return params[key] !== null && params[key] !== undefined && params[key] !== "";
    }).map(function (key) {
      return encodeURIComponent(key) + "=" + encodeURIComponent(params[key]);
    }).join("&");
  }

  function getJson(path, params) {
    return page.request("GET", setup.base + path + "?" + query(params), {}).then(function (reply) {
      if (reply.status === 401) {
        window.location.reload();
        throw new Error("signed out");
      }
      if (reply.status !== 200) throw new Error(page.problem(reply));
      return reply.data;
    });
  }

  /* ------------------------------------------------------------ tiles */

  function tile(spec, figures, previous, onDrill) {
    var node = el("div", "tile");
    node.setAttribute("data-figure", spec.key);
    node.appendChild(el("h3", null, spec.label));
    var value = at(figures, spec.path);
    var shown = formatted(spec.format, value);
    var valueNode = el("p", "value");
    if (spec.drill && onDrill) {
      var button = el("button", "value-button", shown);
      button.type = "button";
      button.setAttribute("aria-label", spec.label + ": " + shown + " — " + spec.drill_label);
      button.addEventListener("click", function () { onDrill(spec); });
      valueNode.appendChild(button);
    } else {
      valueNode.textContent = shown;
    }
    node.appendChild(valueNode);
    // Nothing counted (no car yet today): the tile says so, not "0 of 0".
    var line = isNumber(value) ? detail(spec.detail, at(figures, spec.source)) : text.nothing_yet;
    if (line) node.appendChild(el("p", "detail", line));
    // Compared only with a previous period that has the figure at all: the
    // summary gives the current period's appointments, not the previous's,
    // and "nothing to compare" would be untrue of them.
    if (previous && spec.key in previous) {
      var change = delta(spec, value, at(previous, spec.path));
      if (change) {
        var d = el("p", "delta " + change.verdict, change.text);
        d.setAttribute("data-verdict", change.verdict);
        node.appendChild(d);
      }
    }
    if (spec.drill && onDrill) {
      var link = el("button", "drill", spec.drill_label);
      link.type = "button";
      link.setAttribute("data-only", spec.drill);
      link.addEventListener("click", function () { onDrill(spec); });
      node.appendChild(link);
    }
    return node;
  }

  /* A period's figures with its appointments (the summary sends them beside
     the figures; only the manager's page has tiles for them). */
  function withAppointments(figures, appointments) {
    var all = {};
    Object.keys(figures || {}).forEach(function (key) { all[key] = figures[key]; });
    if (appointments) all.appointments = appointments;
    return all;
  }

  /* The tiles of a summary; today's only those marked for it, without
     the comparison (the day is not over). */
  function drawTiles(container, summary, onDrill, isToday) {
    page.clear(container);
    var figures = withAppointments(summary.figures, summary.appointments);
    var previous = summary.previous && !isToday
      ? withAppointments(summary.previous.figures, summary.previous.appointments) : null;
    text.tiles.forEach(function (spec) {
      // A figure the server did not send (a foreman's page) has no tile.
      if (!(spec.key in figures) || (isToday && !spec.today)) return;
      container.appendChild(tile(spec, figures, previous, onDrill));
    });
  }

  /* ------------------------------------------------------------ today, live */

  var todayBusy = false;
  var todayAgain = false;
  var todayLast = 0;
  var todayTimer = null;

  function loadToday() {
    if (todayBusy) { todayAgain = true; return; }
    todayBusy = true;
    todayLast = Date.now();
    var day = today();
    $("today-date").textContent = showDay(day);
    getJson("/api/summary", { from: day, to: day }).then(function (summary) {
      drawTiles($("today-figures"), summary, function (spec) { openDrill(spec, day, day); }, true);
      $("today-updated").textContent = fill(text.updated, { time: clockNow() });
      $("today").setAttribute("data-loaded", String(Date.now()));
    }, function (problem) {
      $("today-updated").textContent = fill(text.failed, { detail: problem.message });
    }).then(function () {
      todayBusy = false;
      if (todayAgain) { todayAgain = false; refreshToday(); }
    });
  }

  /* At most one request per REFRESH_GAP_MS, the last change always counted. */
  function refreshToday() {
    if (todayTimer) return;
    var wait = Math.max(0, todayLast + REFRESH_GAP_MS - Date.now());
    todayTimer = setTimeout(function () { todayTimer = null; loadToday(); }, wait);
  }

  /* ------------------------------------------------------------ charts */

  var charts = {};
  var lastRange = null;

  // A4 or Letter portrait within the print stylesheet's margins, in CSS px:
  // a chart is drawn this size for paper (the screen's may be wider).
  var PRINT_WIDTH = 700;
  var printMode = false;
  function printing() {
    return printMode || (window.matchMedia && window.matchMedia("print").matches);
  }

  function palette() {
    return printing()
      ? { text: "#000", muted: "#333", grid: "#bbb", series: ["#1f4e9c", "#b35900", "#2d6a2d", "#6b2d8f", "#8a1c1c"] }
      : { text: "#f0f3f6", muted: "#9aa4af", grid: "#30363d", series: ["#58a6ff", "#f0883e", "#3fb950", "#d2a8ff", "#ff7b72"] };
  }

  /* A tooltip as DOM (text only): the name and each series' shown value. */
  function tooltipNode(items, show) {
    var list = Array.isArray(items) ? items : [items];
    var box = el("div", "chart-tip");
    if (list.length) box.appendChild(el("strong", null, list[0].name));
    list.forEach(function (item) {
      box.appendChild(el("div", null, item.seriesName + ": " + show(item.value)));
    });
    return box;
  }

  function chart(id) {
    var node = $("chart-" + id);
    if (!node) return null;
    if (!charts[id]) charts[id] = window.echarts.init(node, null, { renderer: "svg" });
    return charts[id];
  }

  function empty(id, isEmpty) {
    var node = $("chart-" + id);
    if (!node) return;
    var card = node.parentNode;
    var note = card.querySelector(".empty-note");
    if (isEmpty && !note) card.appendChild(el("p", "empty-note", text.no_data));
    if (!isEmpty && note) card.removeChild(note);
    node.hidden = isEmpty;
  }

  /* Bars (vertical by category, or horizontal for long names), every bar
     labelled with its shown value. series: [{name, values}]. */
  function bars(id, categories, series, show, options) {
    var o = options || {};
    var target = chart(id);
    if (!target) return;
    var hasData = categories.length > 0 && series.some(function (s) {
      return s.values.some(isNumber);
    });
    empty(id, !hasData);
    if (!hasData) { target.clear(); return; }
    var node = $("chart-" + id);
    if (printing()) target.resize({ width: PRINT_WIDTH, height: node.classList.contains("tall") ? 340 : 280 });
    else target.resize();
    var colours = palette();
    // Bars per category axis beyond which labels stand upright (a month by day).
    var crowded = !o.horizontal && categories.length * series.length > 14;
    var valueAxis = {
      type: "value",
      max: o.max,
      interval: o.max === 1 ? 0.2 : undefined,
      minInterval: o.whole ? 1 : undefined,
      axisLabel: { color: colours.muted, formatter: function (v) { return o.axis ? o.axis(v) : show(v); } },
      splitLine: { lineStyle: { color: colours.grid } }
    };
    var categoryAxis = {
      type: "category",
      data: categories,
      axisLabel: {
        color: colours.text, interval: 0, rotate: crowded ? 45 : 0,
        width: o.horizontal ? 140 : undefined, overflow: "truncate"
      },
      axisLine: { lineStyle: { color: colours.grid } }
    };
    target.setOption({
      animation: false,
      color: colours.series,
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
      grid: { left: 8, right: o.horizontal ? 96 : 16, top: (series.length > 1 ? 36 : 20) + (crowded ? 48 : 0), bottom: 8, containLabel: true },
      legend: series.length > 1 ? { top: 0, textStyle: { color: colours.text } } : { show: false },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        backgroundColor: printing() ? "#fff" : "#161b22",
        borderColor: colours.grid,
        textStyle: { color: colours.text },
        formatter: function (items) { return tooltipNode(items, show); }
      },
      xAxis: o.horizontal ? valueAxis : categoryAxis,
      yAxis: o.horizontal ? Object.assign({}, categoryAxis, { inverse: true }) : valueAxis,
      series: series.map(function (s) {
        return {
          name: s.name,
          type: "bar",
          data: s.values.map(function (v) { return isNumber(v) ? v : null; }),
          barMaxWidth: 36,
          // Many bars side by side: each label turned upright above its
          // bar, so that every bar keeps its own.
          label: {
            show: true,
            position: o.horizontal ? "right" : "top",
            rotate: crowded ? 90 : 0,
            align: crowded ? "left" : undefined,
            verticalAlign: crowded ? "middle" : undefined,
            distance: crowded ? 4 : 5,
            fontSize: crowded ? 10 : 12,
            color: colours.text,
            formatter: function (p) { return isNumber(p.value) ? (o.label || show)(p.value) : ""; }
          }
        };
      })
    }, true);
  }

  function percentAxis(v) { return percentFormat.format(v); }

  function drawCharts(summary, people) {
    var grouping = summary.group || "day";
    var periods = summary.periods || [];
    var labels = periods.map(function (p) { return periodLabel(p, grouping); });
    // A month by day: the two charts by period take the whole width.
    ["on-time", "cycle"].forEach(function (id) {
      var card = $("card-" + id);
      if (card) card.classList.toggle("wide", periods.length > 14);
    });
    var rate = function (v) { return formatted("rate", v); };

    bars("on-time", labels, [{
      name: text.series.on_time,
      values: periods.map(function (p) { return at(p.figures, "on_time_rate.ready.rate"); })
    }], rate, { max: 1, axis: percentAxis });

    bars("cycle", labels, [
      { name: text.series.median, values: periods.map(function (p) { return at(p.figures, "cycle_minutes.median"); }) },
      { name: text.series.p90, values: periods.map(function (p) { return at(p.figures, "cycle_minutes.p90"); }) }
    ], minutes, { axis: function (v) { return String(Math.round(v)); }, label: function (v) { return String(Math.round(v)); } });

    var dwell = (summary.figures || {}).stage_dwell_minutes || {};
    var stages = Object.keys(dwell).filter(function (stage) { return isNumber(at(dwell[stage], "mean")); });
    bars("dwell", stages.map(function (s) { return text.stages[s] || s; }), [{
      name: text.series.dwell,
      values: stages.map(function (s) { return dwell[s].mean; })
    }], minutes, { horizontal: true, axis: function (v) { return String(Math.round(v)); } });

    var techs = (people || []).filter(function (t) { return isNumber(t.efficiency); });
    bars("efficiency", techs.map(function (t) { return t.name; }), [{
      name: text.series.efficiency,
      values: techs.map(function (t) { return t.efficiency; })
    }], rate, { horizontal: true, axis: percentAxis });

    var perBay = at(summary.figures, "bay_utilisation.bays") || [];
    bars("bays", perBay.map(function (b) { return b.bay; }), [{
      name: text.series.utilisation,
      values: perBay.map(function (b) { return b.rate; })
    }], rate, { horizontal: true, axis: percentAxis });

    if ($("chart-csat")) {
      var distribution = at(summary.figures, "csat.distribution") || {};
      var scores = ["1", "2", "3", "4", "5"];
      var counts = scores.map(function (s) { return Number(distribution[s] || 0); });
      var any = counts.some(function (n) { return n > 0; });
      bars("csat", scores.map(function (s) { return fill(text.stars, { score: s }); }), [{
        name: text.series.answers,
        values: any ? counts : []
      }], function (v) { return numberFormat.format(v); }, { whole: true, axis: function (v) { return String(v); } });
    }
  }

  function redrawCharts() {
    if (lastRange) drawCharts(lastRange.summary, lastRange.technicians);
  }

  /* ------------------------------------------------------------ tables */

  function table(className, columns, rows, footer) {
    var wrap = el("div", "table-scroll");
    var t = el("table", "report-table " + className);
    var head = el("tr");
    columns.forEach(function (c) {
      var th = el("th", c.num ? "num" : null, c.label);
      th.scope = "col";
      head.appendChild(th);
    });
    var thead = el("thead");
    thead.appendChild(head);
    t.appendChild(thead);
    var body = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      columns.forEach(function (c, i) {
        var cell = el(i === 0 ? "th" : "td", (c.num ? "num" : "") + (i === 0 ? " name" : "") + (c.wrap ? " wrap" : ""), c.show(row));
        if (i === 0) cell.scope = "row";
        if (c.key) cell.setAttribute("data-key", c.key);
        tr.appendChild(cell);
      });
      body.appendChild(tr);
    });
    t.appendChild(body);
    if (footer) {
      var tfoot = el("tfoot");
      var tr = el("tr");
      columns.forEach(function (c, i) { tr.appendChild(el("td", c.num ? "num" : null, i === 0 ? footer.label : c.show(footer.row))); });
      tfoot.appendChild(tr);
      t.appendChild(tfoot);
    }
    wrap.appendChild(t);
    return wrap;
  }

  /* columns: [[key, label], ...] in the order shown (the name first). */
  function peopleColumns(columns, kinds, rows) {
    return columns.filter(function (pair) {
      return pair[0] === "name" || rows.some(function (r) { return r[pair[0]] !== undefined; });
    }).map(function (pair) {
      var key = pair[0];
      var kind = kinds[key] || "number";
      return {
        key: key,
        label: pair[1],
        num: key !== "name",
        show: function (row) {
          var value = row[key];
          if (key === "name") return value || text.no_advisor;
          if (value && typeof value === "object") value = value.rate !== undefined ? value.rate : value.average;
          return formatted(kind, value);
        }
      };
    });
  }

  function drawTechnicians(rows, labour) {
    var node = page.clear($("technicians"));
    if (!rows.length) { node.appendChild(el("p", "empty-note", text.no_data)); return; }
    var columns = peopleColumns(text.technician_columns, { efficiency: "rate" }, rows);
    var footer = labour ? { label: text.team, row: labour } : null;
    node.appendChild(table("technicians-table", columns, rows, footer));
  }

  function drawAdvisors(rows) {
    var node = $("advisors");
    if (!node) return;
    page.clear(node);
    if (!rows.length) { node.appendChild(el("p", "empty-note", text.no_data)); return; }
    var columns = peopleColumns(text.advisor_columns, {
      on_time_rate: "rate", approval_rate: "rate", approval_rate_by_value: "rate", csat_average: "score"
    }, rows);
    node.appendChild(table("advisors-table", columns, rows));
  }

  /* ------------------------------------------------------------ drill-down */

  var drillAsked = 0;

  function downloadLinks(csv, xlsx, params) {
    csv.href = setup.base + "/orders.csv?" + query(params);
    xlsx.href = setup.base + "/orders.xlsx?" + query(params);
  }

  /* A cell of the orders' table: an ISO time on the shop's clock with its
     date, anything else as text. */
  function cell(value) {
    if (value === null || value === undefined || value === "") return text.none;
    if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) {
      var d = new Date(value);
      return B.wallValue(d).replace("T", " ");
    }
    if (typeof value === "number") return numberFormat.format(value);
    if (typeof value === "boolean") return value ? text.yes : text.no;
    return String(value);
  }

  function openDrill(spec, from, to) {
    var section = $("drill");
    var params = { from: from, to: to, only: spec ? spec.drill : "all" };
    var label = spec ? spec.label : text.drill_all;
    $("drill-heading").textContent = fill(text.drill_title, { figure: label }) + " · " +
      (from === to ? showDay(from) : fill(text.range, { from: showDay(from), to: showDay(to) }));
    section.setAttribute("data-only", params.only);
    downloadLinks($("drill-csv"), $("drill-xlsx"), params);
    page.clear($("drill-rows"));
    $("drill-count").textContent = text.loading;
    section.hidden = false;
    section.focus();
    section.scrollIntoView({ block: "start" });
    var asked = ++drillAsked;
    getJson("/api/orders", params).then(function (found) {
      if (asked !== drillAsked) return;
      var columns = found.columns.map(function (c) {
        return {
          key: c.key,
          label: c.label,
          wrap: c.key === "work",
          show: function (row) { return c.key === "stage" ? text.stages[row.stage] || row.stage : cell(row[c.key]); }
        };
      });
      $("drill-count").textContent = found.count > found.rows.length
        ? fill(text.drill_more, { shown: found.rows.length, count: found.count })
        : fill(text.drill_count[found.count === 1 ? 0 : 1], { count: found.count });
      if (found.rows.length) $("drill-rows").appendChild(table("drill-table", columns, found.rows));
      section.setAttribute("data-count", String(found.count));
    }, function (problem) {
      if (asked === drillAsked) $("drill-count").textContent = fill(text.failed, { detail: problem.message });
    });
  }

  $("drill-close").addEventListener("click", function () { $("drill").hidden = true; });

  /* ------------------------------------------------------------ the range */

  var form = $("range-form");
  var rangeAsked = 0;

  function chosen() {
    return { from: $("from").value, to: $("to").value, group: $("group").value };
  }

  function rangeProblem(range) {
    if (!range.from || !range.to || range.to < range.from) return text.bad_range;
    return "";
  }

  function loadRange() {
    var range = chosen();
    var problem = rangeProblem(range);
    page.show($("range-error"), problem);
    if (problem) return;
    var asked = ++rangeAsked;
    $("range-title").textContent = text.loading;
    var onDrill = function (spec) { openDrill(spec, range.from, range.to); };
    var wanted = [
      getJson("/api/summary", range),
      getJson("/api/technicians", { from: range.from, to: range.to }),
      setup.full ? getJson("/api/advisors", { from: range.from, to: range.to }) : Promise.resolve({ advisors: [] })
    ];
    Promise.all(wanted).then(function (found) {
      if (asked !== rangeAsked) return;
      var summary = found[0];
      var prev = summary.previous;
      $("range-title").textContent = fill(text.range_compared, {
        from: showDay(summary.from), to: showDay(summary.to), prev_from: showDay(prev.from), prev_to: showDay(prev.to)
      });
      if (summary.from === summary.to) {
        $("range-title").textContent = fill(text.day_compared, { day: showDay(summary.from), prev_day: showDay(prev.from) });
      }
      drawTiles($("range-figures"), summary, onDrill);
      lastRange = { summary: summary, technicians: found[1].technicians };
      drawCharts(summary, found[1].technicians);
      drawTechnicians(found[1].technicians, (summary.figures || {}).labour);
      drawAdvisors(found[2].advisors);
      downloadLinks($("all-csv"), $("all-xlsx"), { from: range.from, to: range.to });
      $("range").setAttribute("data-loaded", range.from + ".." + range.to + ":" + range.group);
    }, function (problem) {
      if (asked !== rangeAsked) return;
      $("range-title").textContent = "";
      page.show($("range-error"), fill(text.failed, { detail: problem.message }));
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var range = chosen();
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", "?" + query(range));
    }
    markPreset(null);
    loadRange();
  });

  function markPreset(key) {
    Array.prototype.forEach.call(document.querySelectorAll("[data-preset]"), function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-preset") === key));
    });
  }

  /* The preset's days on the shop's calendar, and a grouping that gives a
     readable number of bars. */
  function preset(key) {
    var day = today();
    var first = day.slice(0, 8) + "01";
    var ranges = {
      today: [day, day],
      yesterday: [addDays(day, -1), addDays(day, -1)],
      last7: [addDays(day, -6), day],
      this_month: [first, day],
      last_month: [addDays(first, -1).slice(0, 8) + "01", addDays(first, -1)],
      last30: [addDays(day, -29), day],
      this_year: [day.slice(0, 5) + "01-01", day]
    };
    var picked = ranges[key];
    $("from").value = picked[0];
    $("to").value = picked[1];
    var length = daysBetween(picked[0], picked[1]) + 1;
    $("group").value = length > 92 ? "month" : length > 35 ? "week" : "day";
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", "?" + query(chosen()));
    }
    markPreset(key);
    loadRange();
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-preset]"), function (button) {
    button.addEventListener("click", function () { preset(button.getAttribute("data-preset")); });
  });

  /* ------------------------------------------------------------ print, resize */

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      Object.keys(charts).forEach(function (id) { charts[id].resize(); });
    }, 150);
  });
  // Print colours (black text on white) for the printout, the screen's after.
  if (window.matchMedia) {
    var media = window.matchMedia("print");
    var onPrint = function () { redrawCharts(); };
    if (media.addEventListener) media.addEventListener("change", onPrint);
    else if (media.addListener) media.addListener(onPrint);
  }
  window.addEventListener("beforeprint", function () { printMode = true; redrawCharts(); });
  window.addEventListener("afterprint", function () { printMode = false; redrawCharts(); });

  /* ------------------------------------------------------------ start */

  var snapshots = 0;
  var live = B.connect({
    token: null,
    onSnapshot: function (snapshot) {
      if (snapshot && snapshot.shop && snapshot.shop.timezone) {
        zone = snapshot.shop.timezone;
        B.useTimeZone(zone);
      }
      // The first one comes with the page's own first ask; a later one
      // (after a reconnect) may follow changes this page did not hear.
      snapshots += 1;
      if (snapshots > 1) refreshToday();
    },
    onOrder: function () { refreshToday(); }
  });
  // Clocks closed at the shift's end change the labour figures, not any order.
  live.socket.on("shift_closed", refreshToday);

  // For tests and the curious: the figures the page was given.
  B.reports = {
    refreshToday: refreshToday,
    loadRange: loadRange,
    redrawCharts: redrawCharts,
    charts: charts,
    last: function () { return lastRange; }
  };

  loadToday();
  loadRange();
})(window.Baylight);
