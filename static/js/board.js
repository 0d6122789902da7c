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
  // and counted.
  var groups = { active: [] };
  // Who stands on which bay: the domain's standing rule (shared/domain/bays.py
  // `standing`, rendered into the page as #bay-rule), the same the dispatch
  // check counts: repair stages on their own bay, a car being washed on the
  // wash bay, a ready car on none.
  var ruleEl = document.getElementById("bay-rule");
  var rule = ruleEl ? JSON.parse(ruleEl.textContent) : { holding: [], washing: [], wash_kinds: [] };
  // order id -> the bay code it stands on now (set by render()).
  var standsOn = {};
  var PAGE_EVERY_MS = 10000;
  var TICK_EVERY_MS = 15000;

  function among(list, value) { return (list || []).indexOf(value) >= 0; }

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

  /* Every cell has two lines of fixed height, so that every row is as tall
     as any other (the pager counts rows of one height): the key line, read
     from across the workshop (docs/BOARD.md, the viewing-distance rule),
     and a small line under it. */
  function cell(row, className) {
    return row.appendChild(B.page.el("td", className));
  }

  function keyLine(td, value, className) {
    return td.appendChild(B.page.el("span", "key " + className, value));
  }

  function subLine(td, className, value) {
    return td.appendChild(B.page.el("span", "sub" + (className ? " " + className : ""), value));
  }

  function numberCell(row, o) {
    var mark = dayMark(o);
    var td = cell(row, "number" + (mark ? " carried" : ""));
    td.appendChild(B.page.el("span", "no", String(o.number)));
    // A carry-over's day, under its number.
    var sub = subLine(td, "");
    if (mark) sub.appendChild(B.page.el("span", "day-mark", mark));
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

  /* What a paused car waits for, on the small line under its stage: each
     open reason in a framed tag of its own (no glued separators); fitReasons
     counts the ones there is no room for. */
  function reasonsInto(box, o) {
    var reasons = o.pause_reasons || [];
    if (!reasons.length) {
      // Paused with nothing open any more: it waits only for a resume tap.
      box.appendChild(B.page.el("span", "reason none", text.no_holds));
      return;
    }
    reasons.forEach(function (r) {
      box.appendChild(B.page.el("span", "reason reason-" + r.reason, reasonText(r)));
    });
  }

  /* The small line under a stage, when it is too long for its cell: the
     time in stage loses its words ("40 min"), then a paused car's reasons
     that do not fit are counted ("+1 more") rather than cut off mid-word,
     then the time in stage goes; the first reason always stays (a long
     note ends in an ellipsis). */
  function fitReasons(list) {
    var lines = list.querySelectorAll(".stage-sub");
    for (var i = 0; i < lines.length; i += 1) {
      var line = lines[i];
      var over = function () { return line.scrollWidth > line.clientWidth + 1; };
      var inStage = line.querySelector(".in-stage");
      if (over() && inStage) inStage.textContent = inStage.getAttribute("data-short");
      var tags = line.querySelectorAll(".reason:not(.none)");
      var hidden = 0;
      var more = null;
      while (over() && hidden < tags.length - 1) {
        hidden += 1;
        tags[tags.length - hidden].style.display = "none";
        if (!more) {
          more = B.page.el("span", "reason more");
          line.insertBefore(more, tags[tags.length - 1].nextSibling);
        }
        more.textContent = B.fill(text.more_reasons, { count: hidden });
      }
      // Still too long: the reasons matter more than how long it has waited.
      if (over() && inStage && line.querySelector(".reason")) inStage.style.display = "none";
    }
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

  /* The stage: a coloured badge that always carries its word (class
     "stage": its text is the stage's word alone); under it how long the car
     has been in it, and what a paused car waits for. */
  function stageCell(row, o, now) {
    var td = cell(row, "stage-cell");
    keyLine(td, text.stages[o.stage] || o.stage, "badge stage");
    var sub = subLine(td, "stage-sub");
    // A paused car: what it waits for first, then for how long.
    if (o.stage === "paused") reasonsInto(sub, o);
    var inStage = duration(o.stage_entered_at, now);
    sub.appendChild(B.page.el("span", "in-stage", B.fill(text.in_stage, { duration: inStage })))
      .setAttribute("data-short", inStage);
    return td;
  }

  /* A time large on the shop's clock; under it, small, its date when that
     is not today on the shop's calendar (tomorrow's promise must not read as
     a late one today), and the late / at-risk word. */
  function timeCell(row, iso, className, flag) {
    var td = cell(row, className + "-cell");
    var parts = B.whenParts(iso);
    keyLine(td, parts ? parts.time : "—", className);
    var sub = subLine(td, "");
    if (parts && parts.day) sub.appendChild(B.page.el("span", "day " + className + "-day", parts.day));
    if (flag) {
      // Said in words as well as in colour.
      sub.appendChild(B.page.el("span", "flag", flag === "late" ? text.late : text.at_risk));
    }
    return td;
  }

  /* The first technician large (the one to ask), the others small under. */
  function techsCell(row, o) {
    var td = cell(row, "techs");
    var names = (o.technicians || []).map(function (t) { return t.name; });
    keyLine(td, names[0] || "—", "tech-lead");
    subLine(td, "tech-others", names.slice(1).join(text.name_separator || ", "));
    return td;
  }

  function renderRow(o) {
    var now = Date.now();
    var flag = urgency(o, now);
    var tr = B.page.el("tr", "stage-" + o.stage + (flag ? " " + flag : ""));
    tr.setAttribute("data-order-id", String(o.id));
    numberCell(tr, o);
    var plate = cell(tr, "plate-cell");
    keyLine(plate, o.plate, "plate");
    // The model as reception wrote it (data, shown as entered).
    subLine(plate, "model", (o.vehicle && o.vehicle.model) || "");
    stageCell(tr, o, now);
    // Where the car stands now (the standing rule), not the bay its order
    // names: a car being washed is on the wash bay, a ready one on none.
    var bay = cell(tr, "bay-cell");
    keyLine(bay, standsOn[o.id] || "—", "bay");
    subLine(bay, "");
    techsCell(tr, o);
    timeCell(tr, o.promised_at, "promised", flag);
    timeCell(tr, o.eta, "eta", "");
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

  /* First come, first placed: by the moment the car entered its stage (none
     comes last), then by number: as `standing` orders them. */
  function arrival(a, b) {
    var at = a.stage_entered_at ? Date.parse(a.stage_entered_at) : null;
    var bt = b.stage_entered_at ? Date.parse(b.stage_entered_at) : null;
    if ((at === null) !== (bt === null)) return at === null ? 1 : -1;
    if (at !== null && at !== bt) return at - bt;
    return a.number - b.number || a.id - b.id;
  }

  /* shared/domain/bays.py `standing`, step by step: {bay code: [orders]}.
     A car from dispatch to quality check stands on its own bay; a car being
     washed on its own bay when that is a wash bay, else on the shop's wash
     bays in order, each up to its capacity (those that find no room wait at
     the first one in service); every other car on none. */
  function standing(list) {
    var found = {};
    var kinds = {};
    var washing = [];
    function put(code, o) { (found[code] = found[code] || []).push(o); }
    bays.forEach(function (bay) { kinds[bay.code] = bay.kind; });
    list.slice().sort(arrival).forEach(function (o) {
      if (o.bay && among(rule.holding, o.stage)) {
        put(o.bay, o);
      } else if (among(rule.washing, o.stage)) {
        if (o.bay && among(rule.wash_kinds, kinds[o.bay])) put(o.bay, o);
        else washing.push(o);
      }
    });
    var washBays = bays.filter(function (bay) {
      return among(rule.wash_kinds, bay.kind) && bay.in_service !== false;
    });
    washing.forEach(function (o) {
      var room = washBays.filter(function (bay) {
        return (found[bay.code] || []).length < (bay.capacity || 1);
      });
      var to = room[0] || washBays[0];
      if (to) put(to.code, o);
    });
    return found;
  }

  /* The bays in the order the shop placed them, one line each: the code,
     small, and the plate of the car on it at the key size (a bay that holds
     several has a line per car), "free", or, for a bay out of service, why
     (the car still on it, if any, stays named). */
  function renderBays(holders) {
    B.page.clear(bayStrip);
    bays.forEach(function (bay) {
      var here = holders[bay.code] || [];
      var o = here[0];
      var li = B.page.el("li", "bay " + (o ? "taken stage-" + o.stage : "free"));
      li.setAttribute("data-bay", bay.code);
      li.appendChild(B.page.el("span", "chip-label", bay.code));
      var values = li.appendChild(B.page.el("span", "chip-values"));
      if (bay.in_service === false) {
        li.className += " out-of-service";
        values.appendChild(B.page.el("span", "chip-value",
          B.fill(text.out_of_service, { reason: bay.out_of_service_reason || "" })));
      } else {
        values.appendChild(B.page.el("span", "chip-value", o ? o.plate : text.free));
        here.slice(1).forEach(function (other) {
          values.appendChild(B.page.el("span", "chip-value chip-more", other.plate));
        });
      }
      bayStrip.appendChild(li);
    });
    fitBays();
  }

  /* Every bay on screen: at the key size when they fit (a dozen do at any
     16:9 size), else all of them a little smaller, never cut off. */
  function fitBays() {
    var scale = 1;
    bayStrip.style.fontSize = "";
    while (scale > 0.5 && bayStrip.scrollHeight > bayStrip.clientHeight + 1) {
      scale -= 0.05;
      bayStrip.style.fontSize = "calc(var(--key) * " + scale.toFixed(2) + ")";
    }
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
    drawn: fitReasons,
    every: PAGE_EVERY_MS,
    reserve: function () { return footer ? footer.getBoundingClientRect().height : 0; }
  });

  function render() {
    var list = activeOrders();
    var holders = standing(list);
    standsOn = {};
    Object.keys(holders).forEach(function (code) {
      holders[code].forEach(function (o) { standsOn[o.id] = code; });
    });
    renderBays(holders);
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

  /* Booked cars due within the hour: time and masked plate only (the
     server never sends a name). The panel shows only when the shop has it on. */
  var ARRIVALS_EVERY_MS = 60000;
  function renderArrivals(reply) {
    var panel = document.getElementById("arrivals-panel");
    if (!reply || reply.status !== 200 || !reply.data.shown) { panel.hidden = true; return; }
    var list = document.getElementById("arrivals");
    while (list.firstChild) list.removeChild(list.firstChild);
    var found = reply.data.arrivals || [];
    if (!found.length) list.appendChild(B.page.el("li", "empty", text.arrivals_none));
    found.forEach(function (a) {
      var li = B.page.el("li", "arrival");
      li.appendChild(B.page.el("span", "arrival-time", B.when(a.start)));
      li.appendChild(B.page.el("span", "arrival-plate", a.plate));
      list.appendChild(li);
    });
    panel.hidden = false;
  }
  var arrivalsTimer = null;
  function loadArrivals(token) {
    B.api("GET", "/board/api/arrivals", null, token).then(function (reply) {
      if (reply.status === 401 || reply.status === 403) stopArrivals();
      renderArrivals(reply);
    }, function () {});
  }
  function stopArrivals() {
    clearInterval(arrivalsTimer);
    arrivalsTimer = null;
  }
  function arrivalsFor(token) {
    loadArrivals(token);
    if (!arrivalsTimer) arrivalsTimer = setInterval(function () { loadArrivals(token); }, ARRIVALS_EVERY_MS);
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
        // The token works (the socket took it): the booked arrivals are read
        // now and every minute after (a revoked token asks nothing more).
        arrivalsFor(token);
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
    window.BaylightBoard = {
      pages: pages.state, lastSeq: live.lastSeq, lastHeard: live.lastHeard, lostSince: live.lostSince
    };
  }

  B.pair("board").then(start);
})(window.Baylight);
