/* Workshop wall board: every active order, live, paged when it does not fit.
   Socket data only ever goes into the page through textContent. Nothing is
   shown on hover: nobody touches a wall TV. */
(function (B) {
  "use strict";
  var text = B.strings();
  var orders = {};
  var bays = [];
  var empty = document.getElementById("empty");
  var bayStrip = document.getElementById("bays");
  var countStrip = document.getElementById("counts");
  var footer = document.querySelector(".board-footer");
  // The server's stage groups (with the snapshot): "active" orders are shown
  // and counted, an order "in_bay" holds its bay.
  var groups = { active: [], in_bay: [] };
  var PAGE_EVERY_MS = 10000;
  var TICK_EVERY_MS = 15000;

  /* A time on the shop's clock, with its date when it is not today there
     (tomorrow's promise must not read as a late one today). */
  function time(iso) { return B.when(iso, "—"); }

  /* Numbers start again every day: a car carried over from an earlier day
     keeps its own day's number and wears that day ("11/27"), so yesterday's
     1 and today's 1 never read the same. Today is the shop's calendar day
     (B.wallValue: the shop's wall clock), never the TV's. */
  function dayMark(o) {
    var day = o.business_day;
    if (!day || day === B.wallValue(Date.now()).slice(0, 10)) return "";
    var p = day.split("-");
    return B.fill(text.day_mark, { month: Number(p[1]), day: Number(p[2]) });
  }

  function numberCell(row, o) {
    var mark = dayMark(o);
    var td = cell(row, "", "number" + (mark ? " carried" : ""));
    if (mark) td.appendChild(B.page.el("span", "day-mark", mark));
    td.appendChild(B.page.el("span", "no", String(o.number)));
    return td;
  }

  /* One open reason of a paused car, in words: parts (with the expected
     arrival when the parts counter gave one), the customer's OK, or the
     note of an "other" reason. */
  function reasonText(r) {
    if (r.reason === "parts") {
      return r.expected_at ? B.fill(text.parts_due, { time: B.when(r.expected_at) }) : text.pause.parts;
    }
    if (r.reason === "other") return r.note || text.pause.other;
    return text.pause[r.reason] || r.reason;
  }

  /* The reasons a paused car waits for: two lines at most (a row's height
     is the pager's unit), the rest counted. */
  function reasonsBlock(o) {
    var reasons = o.pause_reasons || [];
    // One reason may take both lines; two or more, a line each.
    var box = B.page.el("span", "reasons" + (reasons.length === 1 ? " single" : ""));
    if (!reasons.length) {
      // Paused with nothing open any more: it waits only for a resume tap.
      box.appendChild(B.page.el("span", "reason none", text.no_holds));
      return box;
    }
    var shown = reasons.length > 2 ? 1 : reasons.length;
    reasons.slice(0, shown).forEach(function (r) {
      box.appendChild(B.page.el("span", "reason reason-" + r.reason, reasonText(r)));
    });
    if (reasons.length > shown) {
      box.appendChild(B.page.el("span", "reason more",
        B.fill(text.more_reasons, { count: reasons.length - shown })));
    }
    return box;
  }

  /* "late", "at-risk" or "": the server's verdict, kept current by the clock. */
  function urgency(o, now) {
    var judged = B.page.lateness(o, now);
    return judged.late ? "late" : (judged.atRisk ? "at-risk" : "");
  }

  function duration(since, now) {
    if (!since) return "—";
    var minutes = Math.max(0, Math.floor((now - new Date(since).getTime()) / 60000));
    if (minutes < 60) return B.fill(text.minutes, { minutes: minutes });
    return B.fill(text.hours_minutes, { hours: Math.floor(minutes / 60), minutes: B.pad(minutes % 60) });
  }

  function cell(row, value, className) {
    return row.appendChild(B.page.el("td", className, value));
  }

  function stageCell(row, o) {
    var td = cell(row, "", "stage");
    var badge = B.page.el("span", "badge", text.stages[o.stage] || o.stage);
    if (o.stage !== "paused") {
      td.appendChild(badge);
      return td;
    }
    var box = B.page.el("div", "stage-box");
    box.appendChild(badge);
    box.appendChild(reasonsBlock(o));
    td.appendChild(box);
    return td;
  }

  function renderRow(o) {
    var now = Date.now();
    var flag = urgency(o, now);
    var tr = B.page.el("tr", "stage-" + o.stage + (flag ? " " + flag : ""));
    tr.setAttribute("data-order-id", String(o.id));
    numberCell(tr, o);
    cell(tr, o.plate, "plate");
    cell(tr, (o.vehicle && o.vehicle.model) || "", "model");
    stageCell(tr, o);
    cell(tr, o.bay || "—", "bay");
    cell(tr, (o.technicians || []).map(function (t) { return t.name; }).join(", ") || "—", "techs");
    cell(tr, duration(o.stage_entered_at, now), "in-stage");
    var promised = cell(tr, time(o.promised_at), "promised");
    if (flag) {
      // Said in words as well as in colour.
      promised.appendChild(B.page.el("span", "flag", flag === "late" ? text.late : text.at_risk));
    }
    cell(tr, time(o.eta), "eta");
    return tr;
  }

  function activeOrders() {
    return Object.keys(orders).map(function (id) { return orders[id]; })
      .filter(function (o) { return groups.active.indexOf(o.stage) >= 0; })
      .sort(function (a, b) {
        // Carry-overs first, each day in its own number order.
        var dayA = a.business_day || "";
        var dayB = b.business_day || "";
        if (dayA !== dayB) return dayA < dayB ? -1 : 1;
        return a.number - b.number || a.id - b.id;
      });
  }

  function chip(list, label, value, className) {
    var li = B.page.el("li", className);
    li.appendChild(B.page.el("span", "chip-label", label));
    li.appendChild(B.page.el("span", "chip-value", value));
    list.appendChild(li);
  }

  /* The bays in the order the shop placed them: the car on each (a bay
     that holds several says how many more), "free", or, for a bay out of
     service, why (the car still on it, if any, stays named). */
  function renderBays(list) {
    B.page.clear(bayStrip);
    var holders = {};
    list.forEach(function (o) {
      if (o.bay && groups.in_bay.indexOf(o.stage) >= 0) (holders[o.bay] = holders[o.bay] || []).push(o);
    });
    bays.forEach(function (bay) {
      var here = holders[bay.code] || [];
      var o = here[0];
      var value = o ? o.plate : text.free;
      if (here.length > 1) value = B.fill(text.more_cars, { plate: o.plate, count: here.length - 1 });
      var className = "bay " + (o ? "taken stage-" + o.stage : "free");
      if (bay.in_service === false) {
        className += " out-of-service";
        value = B.fill(text.out_of_service, { reason: bay.out_of_service_reason || "" });
      }
      chip(bayStrip, bay.code, value, className);
      bayStrip.lastChild.setAttribute("data-bay", bay.code);
      if (bay.name && bay.name !== bay.code) bayStrip.lastChild.setAttribute("title", bay.name);
    });
  }

  function renderCounts(list) {
    B.page.clear(countStrip);
    var now = Date.now();
    var counts = {};
    var late = 0;
    var risk = 0;
    list.forEach(function (o) {
      counts[o.stage] = (counts[o.stage] || 0) + 1;
      var flag = urgency(o, now);
      if (flag === "late") late += 1;
      if (flag === "at-risk") risk += 1;
    });
    groups.active.forEach(function (stage) {
      chip(countStrip, text.stages[stage] || stage, String(counts[stage] || 0), "count stage-" + stage);
      countStrip.lastChild.setAttribute("data-stage", stage);
    });
    chip(countStrip, text.late, String(late), "count late" + (late ? "" : " zero"));
    countStrip.lastChild.setAttribute("data-stage", "late");
    chip(countStrip, text.at_risk, String(risk), "count at-risk" + (risk ? "" : " zero"));
    countStrip.lastChild.setAttribute("data-stage", "at-risk");
  }

  var pages = B.pager({
    list: document.getElementById("orders"),
    indicator: document.getElementById("page"),
    render: renderRow,
    every: PAGE_EVERY_MS,
    reserve: function () { return footer ? footer.getBoundingClientRect().height : 0; }
  });

  function render() {
    var list = activeOrders();
    renderBays(list);
    renderCounts(list);
    pages.set(list);
    empty.textContent = text.none;
    empty.hidden = list.length > 0;
  }

  function useShop(shop) {
    B.useTimeZone(shop.timezone);
    B.useShopLabels(text, shop);
    document.getElementById("shop-name").textContent = shop.name || "";
  }

  function start(token) {
    document.getElementById("live").hidden = false;
    B.clock(document.getElementById("clock"));
    B.reloadDaily(4);
    // Time in stage ticks and late/at-risk follow the clock between events.
    setInterval(render, TICK_EVERY_MS);
    var live = B.connect({
      token: token,
      audienceSeesAll: true,
      onSnapshot: function (snapshot) {
        if (snapshot.shop) useShop(snapshot.shop);
        if (snapshot.stage_groups) groups = snapshot.stage_groups;
        bays = snapshot.bays || [];
        orders = {};
        snapshot.orders.forEach(function (o) { orders[o.id] = o; });
        render();
      },
      // An admin changed the shop (its name, its words for the stages) or
      // its bays: shown at once, no reload.
      onShop: function (shop) { useShop(shop); render(); },
      onBays: function (list) { bays = list || []; render(); },
      onOrder: function (order, seq, old) {
        var known = orders[order.id];
        if (old && known && known.version >= order.version) return;
        orders[order.id] = order;
        render();
      },
      onRevoked: function () {
        B.api("GET", "/api/v1/whoami", null, token).then(function (reply) {
          if (reply.status === 401) { B.forget("board"); window.location.reload(); }
        });
      }
    });
    // For tests and for whoever looks at a TV's console: where the board is.
    window.BaylightBoard = { pages: pages.state, lastSeq: live.lastSeq };
  }

  B.pair("board").then(start);
})(window.Baylight);
