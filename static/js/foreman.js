/*
 * Foreman dispatch console. One read (/foreman/api/overview) draws every
 * panel; the socket only says "something changed", so the console never
 * keeps its own copy of the rules. Assignments go through the public REST
 * API with the session cookie and the CSRF token; a stale version is shown
 * with the current state the server sent back, a taken bay with the car on it.
 * Parts go through the same API (PATCH /api/v1/orders/{id}/parts/{part}); a
 * technician's clock starts only by the foreman's explicit tap
 * (POST /foreman/api/orders/{id}/clock-on), never as a side effect.
 */
(function (B) {
  "use strict";
  var text = B.strings();
  var data = null;
  var timer = null;

  var $ = B.page.byId, el = B.page.el, clear = B.page.clear, fill = B.fill;

  function since(iso) { return B.page.duration(B.page.minutesSince(iso), text); }
  function names(order) {
    return (order.technicians || []).map(function (t) { return t.name; }).join(", ");
  }

  /* The session cookie and the page's CSRF token: the foreman is signed in. */
  function send(method, path, body) {
    return B.page.request(method, path, { body: body, csrf: true });
  }

  function button(label, className, handler) {
    var b = el("button", "tap " + className, label);
    b.type = "button";
    b.addEventListener("click", handler);
    return b;
  }

  function notice(message, kind) {
    var box = $("notice");
    box.textContent = message;
    box.className = "notice notice-" + kind;
    box.hidden = false;
  }

  // ------------------------------------------------------------ panels

  function bays() {
    var box = clear($("bays"));
    data.bays.forEach(function (bay) {
      var card = el("article", "bay" + (bay.in_service === false ? " out-of-service" : ""));
      card.setAttribute("data-bay", bay.code);
      card.appendChild(el("h3", "bay-code", bay.code));
      if (bay.in_service === false) {
        // Said in words: nobody should send a car there.
        card.appendChild(el("p", "bay-out", fill(text.out_of_service, { reason: bay.out_of_service_reason || "" })));
      }
      var here = data.orders.filter(function (o) {
        return o.bay === bay.code && B.page.inGroup("clocked", o.stage);
      });
      if (!here.length && bay.in_service !== false) card.appendChild(el("p", "bay-free", text.free));
      here.forEach(function (o) {
        var row = el("div", "bay-order stage-" + o.stage + (o.late ? " late" : ""));
        row.setAttribute("data-order-id", String(o.id));
        row.appendChild(el("span", "plate", o.plate));
        row.appendChild(el("span", "stage", text.stages[o.stage] || o.stage));
        row.appendChild(el("span", "techs", names(o)));
        row.appendChild(el("span", "in-stage", since(o.stage_entered_at)));
        if (B.page.inGroup("working", o.stage)) {
          var b = el("button", "tap tap-secondary reassign", text.reassign);
          b.type = "button";
          b.addEventListener("click", function () { assignDialog(o); });
          row.appendChild(b);
        }
        var held = holds(o);
        if (held) row.appendChild(held);
        var clocks = clockLines(o);
        if (clocks) row.appendChild(clocks);
        card.appendChild(row);
      });
      box.appendChild(card);
    });
  }

  /* What a paused order waits for: each open reason in words, in the
     server's order (parts with their expected arrival, the quote the
     customer is asked about, the technician's note). */
  function holds(order) {
    if (order.stage !== "paused") return null;
    var reasons = order.pause_reasons || [];
    if (!reasons.length) {
      return order.pause_reason ? el("p", "holds", text.pause[order.pause_reason] || order.pause_reason) : null;
    }
    var list = el("ul", "holds");
    reasons.forEach(function (reason) {
      var words;
      if (reason.reason === "parts") {
        var part = B.page.partOf(order, reason.key);
        var what = part ? part.description : reason.note;
        var eta = (part && part.eta) || reason.expected_at;
        words = eta ? fill(text.waiting_parts_eta, { what: what, time: B.when(eta) })
          : fill(text.waiting_parts, { what: what });
      } else if (reason.reason === "approval") {
        var quote = B.page.quoteOf(order, reason.key);
        words = fill(text.waiting_approval, { what: quote ? quote.description : reason.note });
      } else {
        words = reason.note ? fill(text.waiting_other, { note: reason.note }) : text.pause.other;
      }
      var item = el("li", "hold hold-" + reason.reason, words);
      item.setAttribute("data-key", reason.key);
      list.appendChild(item);
    });
    return list;
  }

  function stateOf(technicianId) {
    return data.technicians.filter(function (t) { return t.id === technicianId; })[0] || null;
  }

  /* On an order in progress, each assigned technician's clock: running here,
     running on another job, or not running (then the foreman may start it,
     by an explicit tap for that technician). */
  function clockLines(order) {
    if (order.stage !== "in_progress" || !(order.technicians || []).length) return null;
    var list = el("ul", "clocks");
    order.technicians.forEach(function (t) {
      var state = stateOf(t.id);
      var name = (state && state.name) || t.name;
      var item = el("li", "clock-of");
      item.setAttribute("data-technician-id", String(t.id));
      if (state && state.state === "working" && state.order_id === order.id) {
        item.classList.add("clock-here");
        item.appendChild(el("span", "", fill(text.clock_here, { name: name }) + " · " + since(state.since)));
      } else if (state && state.state === "working") {
        item.classList.add("clock-elsewhere");
        item.appendChild(el("span", "", fill(text.clock_elsewhere, { name: name })));
      } else {
        item.classList.add("clock-off");
        item.appendChild(el("span", "", fill(text.clock_off, { name: name })));
        item.appendChild(button(fill(text.start_clock_for, { name: name }), "tap-primary clock-on", function () {
          send("POST", "/foreman/api/orders/" + order.id + "/clock-on", { technician_id: t.id })
            .then(answered, failed);
        }));
      }
      list.appendChild(item);
    });
    return list;
  }

  // ------------------------------------------------------------ parts

  /* Open parts requests across the floor: asked for first (oldest first),
     then ordered (soonest expected first). */
  function openParts() {
    var rows = [];
    data.orders.forEach(function (o) {
      (o.parts || []).forEach(function (p) {
        if (p.status !== "arrived") rows.push({ order: o, part: p });
      });
    });
    function rank(row) {
      return (row.part.status === "requested" ? "0" : "1") +
        (row.part.status === "requested" ? row.part.requested_at || "" : row.part.eta || "9999");
    }
    return rows.sort(function (a, b) { return rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0; });
  }

  function parts() {
    listPanel("parts", openParts(), text.parts_empty, function (row) {
      var o = row.order, p = row.part;
      var item = el("li", "part-request part-" + p.status);
      item.setAttribute("data-order-id", String(o.id));
      item.setAttribute("data-part-id", String(p.id));
      var head = el("div", "part-head");
      head.appendChild(el("span", "number", "#" + o.number));
      head.appendChild(el("span", "plate", o.plate));
      head.appendChild(el("span", "techs", names(o)));
      item.appendChild(head);
      item.appendChild(el("p", "part-what", p.description));
      var facts = el("p", "part-facts");
      facts.appendChild(el("span", "part-status", text.part_status[p.status] || p.status));
      facts.appendChild(el("span", "part-when", p.status === "ordered" && p.eta
        ? fill(text.expected, { time: B.when(p.eta) })
        : fill(text.requested_by, { time: B.when(p.requested_at, "—") })));
      item.appendChild(facts);
      var actions = el("div", "part-actions");
      actions.appendChild(button(p.status === "ordered" ? text.change_eta : text.mark_ordered,
        "tap-secondary part-ordered", function () { etaDialog(o, p); }));
      actions.appendChild(button(text.mark_arrived, "tap-primary part-arrived", function () {
        partStatus(o, p, { status: "arrived" });
      }));
      item.appendChild(actions);
      return item;
    });
  }

  function partStatus(order, part, body) {
    send("PATCH", "/api/v1/orders/" + order.id + "/parts/" + part.id, body).then(answered, failed);
  }

  function etaDialog(order, part) {
    var dialog = $("eta-dialog");
    $("eta-title").textContent = "#" + order.number + " " + order.plate + " · " + part.description;
    var input = $("eta-input");
    // Suggest the current expectation, else two hours from now (on the quarter hour).
    var suggested = part.eta ? new Date(part.eta) : new Date(Math.ceil((Date.now() + 7200000) / 900000) * 900000);
    input.value = B.wallValue(suggested);
    $("eta-cancel").onclick = function () { dialog.close(); };
    $("eta-form").onsubmit = function (event) {
      event.preventDefault();
      var eta = B.shopIso(input.value);
      if (!eta) return;
      dialog.close();
      partStatus(order, part, { status: "ordered", eta: eta });
    };
    dialog.showModal();
  }

  /* The answer to a parts or clock tap: done (the console reads again), or
     the server's reason. */
  function answered(reply) {
    if (reply.status >= 200 && reply.status < 300) $("notice").hidden = true;
    else notice(fill(text.refused, { detail: B.page.problem(reply) }), "refused");
    refresh();
  }

  function failed() {
    notice(fill(text.refused, { detail: text.offline }), "refused");
  }

  /* A list panel: an item for each entry, or the line that says there are none.
     Drawn again only when what it lists changed, or how times read (the shop's
     zone arrived, the minute turned, so "today" may have too): a refresh that
     replaced the buttons under a finger would swallow the tap (pressed on the
     old button, released on the new one). */
  var drawn = {};
  var zoneSet = 0;  // counts the shop zones applied: each one redraws every list
  function listPanel(id, entries, none, item) {
    var shown = JSON.stringify(entries) + "|" + zoneSet + "|" + B.when(new Date().toISOString());
    if (drawn[id] === shown && $(id).children.length) return;
    drawn[id] = shown;
    var list = clear($(id));
    if (!entries.length) list.appendChild(el("li", "empty", none));
    entries.forEach(function (entry) { list.appendChild(item(entry)); });
  }

  function queue() {
    listPanel("queue", data.queue, text.queue_empty, function (o) {
      var item = el("li", "queued" + (o.late ? " late" : ""));
      item.setAttribute("data-order-id", String(o.id));
      item.appendChild(el("span", "number", "#" + o.number));
      item.appendChild(el("span", "plate", o.plate));
      item.appendChild(el("span", "model", o.vehicle && o.vehicle.model));
      item.appendChild(el("span", "promised", B.when(o.promised_at, "—")));
      if (o.priority === "vip") item.appendChild(el("span", "tag tag-vip", text.vip));
      if (o.waiting) item.appendChild(el("span", "tag tag-waiting", text.waiting_customer));
      var b = el("button", "tap tap-primary assign", text.assign);
      b.type = "button";
      b.addEventListener("click", function () { assignDialog(o); });
      item.appendChild(b);
      return item;
    });
  }

  /* What a paused technician's car waits for: every open reason, in words. */
  function pausedFor(t) {
    var order = data.orders.filter(function (o) { return o.id === t.order_id; })[0];
    var codes = order && (order.pause_reasons || []).length
      ? order.pause_reasons.map(function (r) { return r.reason; })
      : (t.reason ? [t.reason] : []);
    var seen = [];
    codes.forEach(function (code) { if (seen.indexOf(code) < 0) seen.push(code); });
    return seen.length ? " · " + seen.map(function (code) { return text.pause[code] || code; }).join(" / ") : "";
  }

  function technicians() {
    var list = clear($("technicians"));
    data.technicians.forEach(function (t) {
      var item = el("li", "tech tech-" + t.state);
      item.setAttribute("data-technician-id", String(t.id));
      item.appendChild(el("span", "name", t.name));
      var label = text[t.state] || t.state;
      if (t.state === "paused") label += pausedFor(t);
      if (t.state === "working" && t.since) label += " · " + since(t.since);
      item.appendChild(el("span", "state", label));
      list.appendChild(item);
    });
    var body = clear($("efficiency"));
    data.efficiency.forEach(function (e) {
      var tr = el("tr");
      tr.appendChild(el("td", "", e.technician.name));
      tr.appendChild(el("td", "", e.sold_hours.toFixed(1)));
      tr.appendChild(el("td", "", e.clocked_hours.toFixed(1)));
      body.appendChild(tr);
    });
    var locked = clear($("locked"));
    data.locked_badges.forEach(function (l) {
      var item = el("li", "locked-badge");
      item.setAttribute("data-badge", l.badge);
      item.appendChild(el("span", "", l.badge + " " + l.name));
      var b = el("button", "tap tap-warn unlock", text.unlock);
      b.type = "button";
      b.addEventListener("click", function () {
        send("POST", "/foreman/api/badges/" + encodeURIComponent(l.badge) + "/unlock").then(refresh);
      });
      item.appendChild(b);
      locked.appendChild(item);
    });
  }

  function plan() {
    var box = clear($("plan"));
    data.plan.forEach(function (bay) {
      var row = el("div", "plan-bay");
      row.appendChild(el("h3", "", bay.bay + " · " + text.planned + " " + bay.planned_hours.toFixed(1) +
        " " + text.hours + " / " + text.clocked + " " + bay.clocked_hours.toFixed(1) + " " + text.hours));
      var scale = Math.max(bay.planned_hours, bay.clocked_hours, 1);
      bay.orders.forEach(function (o) {
        var line = el("div", "plan-order" + (o.clocked_hours > o.planned_hours ? " over" : ""));
        line.appendChild(el("span", "plate", o.plate));
        var bars = el("div", "bars");
        var planned = el("div", "bar bar-planned");
        planned.style.width = (100 * o.planned_hours / scale) + "%";
        var actual = el("div", "bar bar-actual");
        actual.style.width = Math.min(100, 100 * o.clocked_hours / scale) + "%";
        bars.appendChild(planned);
        bars.appendChild(actual);
        line.appendChild(bars);
        line.appendChild(el("span", "figures", o.planned_hours.toFixed(1) + " / " + o.clocked_hours.toFixed(1)));
        row.appendChild(line);
      });
      box.appendChild(row);
    });
  }

  function exceptions() {
    listPanel("exceptions", data.exceptions, text.no_exceptions, function (e) {
      var who = e.technicians.map(function (t) { return t.name; }).join(", ");
      return el("li", "exception exception-" + e.kind,
        (e.kind === "overrun" ? text.overrun : text.shift_end) + " · #" + e.number +
        " " + e.plate + " · " + who + " · " + e.clocked_hours.toFixed(1) + " " + text.hours);
    });
  }

  function render() {
    if (!data) return;
    bays(); queue(); parts(); technicians(); plan(); exceptions();
  }

  function refresh() {
    B.page.request("GET", "/foreman/api/overview").then(function (reply) {
      if (reply.status === 401) { window.location.href = "/login?next=/foreman"; return; }
      if (reply.json) { data = reply.data; render(); }
    });
  }

  function refreshSoon() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  }

  // ------------------------------------------------------------ assignment

  function toggle(label, className, pressed, attrs) {
    var b = el("button", "tap choice " + className, label);
    b.type = "button";
    b.setAttribute("aria-pressed", pressed ? "true" : "false");
    Object.keys(attrs).forEach(function (k) { b.setAttribute(k, attrs[k]); });
    return b;
  }

  function assignDialog(order) {
    var dialog = $("assign-dialog");
    $("assign-title").textContent = "#" + order.number + " " + order.plate;
    var chosenBay = order.bay;
    var chosen = (order.technicians || []).map(function (t) { return t.id; });
    var bayBox = clear($("assign-bays"));
    data.bays.forEach(function (bay) {
      var out = bay.in_service === false;
      var b = toggle(out ? fill(text.bay_out, { code: bay.code }) : bay.code,
        "bay-choice" + (out ? " out-of-service" : ""), bay.code === chosenBay, { "data-bay": bay.code });
      if (out) b.title = bay.out_of_service_reason || "";
      b.addEventListener("click", function () {
        chosenBay = bay.code;
        Array.prototype.forEach.call(bayBox.children, function (c) {
          c.setAttribute("aria-pressed", c === b ? "true" : "false");
        });
      });
      bayBox.appendChild(b);
    });
    var techBox = clear($("assign-techs"));
    data.technicians.forEach(function (t) {
      var b = toggle(t.name + " · " + (text[t.state] || t.state), "tech-choice",
        chosen.indexOf(t.id) >= 0, { "data-technician-id": String(t.id) });
      b.addEventListener("click", function () {
        var at = chosen.indexOf(t.id);
        if (at >= 0) chosen.splice(at, 1); else chosen.push(t.id);
        b.setAttribute("aria-pressed", at >= 0 ? "false" : "true");
      });
      techBox.appendChild(b);
    });
    $("assign-cancel").onclick = function () { dialog.close(); };
    $("assign-form").onsubmit = function (event) {
      event.preventDefault();
      dialog.close();
      send("PUT", "/api/v1/orders/" + order.id + "/assignment",
        { bay: chosenBay || "", technicians: chosen, version: order.version })
        .then(function (reply) { assigned(reply); });
    };
    dialog.showModal();
  }

  /* The bay has no room: name the car(s) standing on it, in the page's own
     words when it has them, otherwise with the server's detail. */
  function bayTaken(problem) {
    var holders = problem.holders || (problem.held_by ? [problem.held_by] : []);
    var cars = holders.map(function (h) { return "#" + h.number + " " + h.plate; }).join(", ");
    if (holders.length === 1 && text.bay_occupied) {
      return fill(text.bay_occupied, { bay: problem.bay, number: holders[0].number, plate: holders[0].plate });
    }
    if (holders.length > 1 && text.bay_full) {
      return fill(text.bay_full, { bay: problem.bay, capacity: problem.capacity, cars: cars });
    }
    return fill(text.refused, { detail: problem.detail || problem.title || cars });
  }

  function assigned(reply) {
    if (reply.status === 200) {
      $("notice").hidden = true;
    } else if (reply.data.code === "bay_occupied") {
      notice(bayTaken(reply.data), "refused");
    } else if (reply.data.code === "stale_version" && reply.data.order) {
      var now = reply.data.order;
      notice(fill(text.stale_version, { detail: reply.data.detail }) + " " + fill(text.now_state, {
        stage: text.stages[now.stage] || now.stage, bay: now.bay || "—", technicians: names(now) || "—"
      }), "stale");
    } else {
      notice(fill(text.refused, { detail: reply.data.detail || reply.data.title || reply.status }), "refused");
    }
    refresh();
  }

  B.clock($("clock"));
  refresh();
  setInterval(render, 30000);
  function useShop(shop) {
    B.useTimeZone(shop.timezone);
    B.useShopLabels(text, shop);
    zoneSet += 1;
    render();
  }

  var live = B.connect({
    token: null,
    onSnapshot: function (snapshot) {
      if (snapshot && snapshot.shop) useShop(snapshot.shop);
      refreshSoon();
    },
    // An admin changed the shop's words or its bays: drawn at once.
    onShop: useShop,
    onBays: function () { refreshSoon(); },
    onOrder: function () { refreshSoon(); }
  });
  // Clocks closed at the shift's end change the figures, not any order.
  live.socket.on("shift_closed", refreshSoon);
  live.socket.on("clock_started", refreshSoon);
  // A colleague added, changed or deactivated at /admin/staff: the picker reloads.
  live.socket.on("staff_changed", refreshSoon);
})(window.Baylight);
