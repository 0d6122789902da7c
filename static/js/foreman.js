/*
 * Foreman dispatch console. One read (/foreman/api/overview) draws every
 * panel; the socket only says "something changed", so the console never
 * keeps its own copy of the rules. Assignments go through the public REST
 * API with the session cookie and the CSRF token; a stale version is shown
 * with the current state the server sent back, a taken bay with the car on it.
 * Parts go through the same API (PATCH /api/v1/orders/{id}/parts/{part}); a
 * technician's clock starts only by the foreman's explicit tap
 * (POST /foreman/api/orders/{id}/clock-on), never as a side effect.
 *
 * The bays are the shop's job progress board (作业进度管理板): a job is
 * dispatched by dragging its card onto a bay or a technician (Pointer
 * Events: mouse, touch and pen alike) or by its Assign button (taps and the
 * keyboard). A drop only opens the assign dialog filled in; nothing is
 * assigned until the foreman confirms there.
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
  function hours(value) { return (Number(value) || 0).toFixed(1); }

  /* A sentence whose placeholders are elements: {time} becomes a <time>
     the tests and the styles can find, in the language's own word order. */
  function sentence(className, template, nodes) {
    var box = el("span", className);
    String(template || "").split(/(\{\w+\})/).forEach(function (part) {
      var key = /^\{(\w+)\}$/.exec(part);
      if (key && nodes[key[1]]) box.appendChild(nodes[key[1]]);
      else if (part) box.appendChild(document.createTextNode(part));
    });
    return box;
  }

  function orderById(id) {
    return data.orders.filter(function (o) { return o.id === id; })[0] || null;
  }

  /* Late or at risk, in words (never colour alone): the server's verdict,
     kept current by the clock between reads. */
  function flag(order) {
    var judged = B.page.lateness(order, Date.now());
    if (judged.late) return el("span", "flag flag-late", "⚠ " + text.late);
    if (judged.atRisk) return el("span", "flag flag-risk", "△ " + text.at_risk);
    return null;
  }

  /* The promise (承诺交车) and the estimate (预计完工), each named, on the
     shop's clock with the date when not today; then the standard hours. */
  function times(order) {
    var box = el("p", "times");
    if (order.promised_at) {
      box.appendChild(sentence("promise", text.promised_at,
        { time: el("time", "promised", B.when(order.promised_at)) }));
    } else {
      box.appendChild(el("span", "promise promise-none", text.no_promise));
    }
    if (order.eta) {
      box.appendChild(sentence("estimate", text.eta_at, { time: el("time", "eta", B.when(order.eta)) }));
    }
    box.appendChild(el("span", "std-hours", fill(text.standard_hours, { hours: hours(order.labour_hours) })));
    return box;
  }

  /* The work booked on the order, each item with its standard hours. */
  function workList(order) {
    var items = order.items || [];
    if (!items.length) return el("p", "work work-none", text.no_items);
    var list = el("ul", "work");
    items.forEach(function (item) {
      list.appendChild(el("li", "", fill(text.item_hours, { title: item.title, hours: hours(item.labour_hours) })));
    });
    return list;
  }

  function kindOf(bay) { return (text.kinds || {})[bay.kind] || bay.kind; }

  /* Whether a bay can take this order: in service, and room beside the
     cars standing on it (the order itself does not count). */
  function roomFor(bay, order) {
    if (bay.in_service === false) return false;
    var others = (bay.holders || []).filter(function (h) { return !order || h.id !== order.id; });
    return others.length < (bay.capacity || 1);
  }

  /* What stands on a bay, in words: free, places left, or the cars on it. */
  function bayState(bay, order) {
    if (bay.in_service === false) {
      return fill(text.out_of_service, { reason: bay.out_of_service_reason || "" });
    }
    var holders = bay.holders || [];
    if (order && holders.some(function (h) { return h.id === order.id; })) return text.this_car_here;
    var capacity = bay.capacity || 1;
    if (capacity > 1 && holders.length < capacity) {
      // The noun goes with the capacity: "1 of 3 places free".
      return fill(text.places_free.other, { free: capacity - holders.length, capacity: capacity });
    }
    if (!holders.length) return text.free;
    return fill(text.taken, {
      cars: holders.map(function (h) { return "#" + h.number + " " + h.plate; }).join(", ")
    });
  }

  function qualifications(t) {
    var words = (t.qualifications || []).map(function (q) { return (text.qualifications || {})[q] || q; });
    return words.length ? words.join(" · ") : text.no_qualification;
  }

  function load(t) {
    var l = t.load || { jobs: 0, remaining_hours: 0 };
    if (!l.jobs) return text.no_load;
    return fill(text.load[l.jobs === 1 ? "one" : "other"], { count: l.jobs, hours: hours(l.remaining_hours) });
  }

  function stateWords(t) {
    var label = text[t.state] || t.state;
    if (t.state === "paused") label += pausedFor(t);
    if (t.state === "working" && t.since) label += " · " + since(t.since);
    return label;
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

  /* The job progress board: each bay with its kind, whether it is free,
     and the cars standing on it (by the shop's placement rule, as the
     server counts them for a dispatch), each with its own reassign button. */
  function bays() {
    var box = clear($("bays"));
    data.bays.forEach(function (bay) {
      var out = bay.in_service === false;
      var card = el("article", "bay" + (out ? " out-of-service" : ""));
      card.setAttribute("data-bay", bay.code);
      card.setAttribute("data-drop-bay", bay.code);
      var head = el("header", "bay-head");
      head.appendChild(el("h3", "bay-code", bay.code));
      head.appendChild(el("span", "bay-kind", kindOf(bay)));
      card.appendChild(head);
      var here = (bay.holders || []).map(function (h) { return orderById(h.id); })
        .filter(function (o) { return o; });
      var state = bayState(bay, null);
      if (out) {
        // Said in words: nobody should send a car there.
        card.appendChild(el("p", "bay-out", state));
      } else if (!here.length || (bay.capacity || 1) > 1) {
        card.appendChild(el("p", here.length ? "bay-room" : "bay-free", state));
      }
      here.forEach(function (o) {
        var row = el("div", "bay-order stage-" + o.stage);
        row.setAttribute("data-order-id", String(o.id));
        var top = el("div", "bay-order-head");
        var working = B.page.inGroup("working", o.stage);
        if (working) top.appendChild(handle(o));
        top.appendChild(el("span", "plate", o.plate));
        top.appendChild(el("span", "stage", text.stages[o.stage] || o.stage));
        var flagged = flag(o);
        if (flagged) { top.appendChild(flagged); row.classList.add(flagged.className.indexOf("late") >= 0 ? "late" : "at-risk"); }
        row.appendChild(top);
        row.appendChild(el("span", "techs", names(o)));
        row.appendChild(el("span", "in-stage", fill(text.in_stage, { time: since(o.stage_entered_at) })));
        if (working) {
          var b = el("button", "tap tap-secondary reassign", fill(text.reassign_plate, { plate: o.plate }));
          b.type = "button";
          b.setAttribute("data-order-id", String(o.id));
          b.addEventListener("click", function () { assignDialog(o); });
          row.appendChild(b);
          draggable(row, o);
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

  /* The dispatch queue: each card says the promise and the estimate (named,
     on the shop's clock), late or at risk in words, the standard hours and
     the work; it is dragged onto a bay or a technician, or assigned by its
     button. */
  function queue() {
    listPanel("queue", data.queue, text.queue_empty, function (o) {
      var judged = B.page.lateness(o, Date.now());
      var item = el("li", "queued" + (judged.late ? " late" : judged.atRisk ? " at-risk" : ""));
      item.setAttribute("data-order-id", String(o.id));
      var head = el("div", "queued-head");
      head.appendChild(handle(o));
      head.appendChild(el("span", "number", "#" + o.number));
      head.appendChild(el("span", "plate", o.plate));
      if (o.vehicle && o.vehicle.model) head.appendChild(el("span", "model", o.vehicle.model));
      var flagged = flag(o);
      if (flagged) head.appendChild(flagged);
      if (o.priority === "vip") head.appendChild(el("span", "tag tag-vip", text.vip));
      if (o.waiting) head.appendChild(el("span", "tag tag-waiting", text.waiting_customer));
      item.appendChild(head);
      item.appendChild(times(o));
      item.appendChild(workList(o));
      var b = el("button", "tap tap-primary assign", text.assign);
      b.type = "button";
      b.setAttribute("aria-label", fill(text.assign_plate, { plate: o.plate }));
      b.addEventListener("click", function () { assignDialog(o); });
      item.appendChild(b);
      draggable(item, o);
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

  /* Each technician: what they may sign, what they do now and their load;
     a drop target for a job. */
  function technicians() {
    var list = clear($("technicians"));
    data.technicians.forEach(function (t) {
      var item = el("li", "tech tech-" + t.state);
      item.setAttribute("data-technician-id", String(t.id));
      item.setAttribute("data-drop-technician", String(t.id));
      var top = el("div", "tech-head");
      top.appendChild(el("span", "name", t.name));
      top.appendChild(el("span", "state", stateWords(t)));
      item.appendChild(top);
      item.appendChild(el("span", "quals", qualifications(t)));
      item.appendChild(el("span", "load", load(t)));
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
    // Locked badges, or a plain "none": never a heading over nothing.
    listPanel("locked", data.locked_badges, text.no_locked, function (l) {
      var item = el("li", "locked-badge");
      item.setAttribute("data-badge", l.badge);
      item.appendChild(el("span", "", l.badge + " " + l.name));
      var b = el("button", "tap tap-warn unlock", text.unlock);
      b.type = "button";
      b.addEventListener("click", function () {
        send("POST", "/foreman/api/badges/" + encodeURIComponent(l.badge) + "/unlock").then(refresh);
      });
      item.appendChild(b);
      return item;
    });
  }

  /* Plan vs actual: per bay, each car's planned hours (upper bar) against
     the hours clocked today (lower bar), said in figures too, and a car
     over its plan marked in words (the legend above says which is which). */
  function plan() {
    var box = clear($("plan"));
    data.plan.forEach(function (bay) {
      var row = el("div", "plan-bay");
      row.appendChild(el("h3", "", fill(text.plan_bay, {
        bay: bay.bay, planned: hours(bay.planned_hours), clocked: hours(bay.clocked_hours)
      })));
      var scale = Math.max(bay.planned_hours, bay.clocked_hours, 1);
      bay.orders.forEach(function (o) {
        var over = o.clocked_hours > o.planned_hours;
        var line = el("div", "plan-order" + (over ? " over" : ""));
        line.setAttribute("data-order-id", String(o.order_id));
        line.appendChild(el("span", "plate", o.plate));
        var bars = el("div", "bars");
        bars.setAttribute("aria-hidden", "true");
        var planned = el("div", "bar bar-planned");
        planned.style.width = (100 * o.planned_hours / scale) + "%";
        var actual = el("div", "bar bar-actual");
        actual.style.width = Math.min(100, 100 * o.clocked_hours / scale) + "%";
        bars.appendChild(planned);
        bars.appendChild(actual);
        line.appendChild(bars);
        var figures = el("span", "figures", fill(text.plan_figures, {
          planned: hours(o.planned_hours), clocked: hours(o.clocked_hours)
        }));
        line.appendChild(figures);
        if (over) line.appendChild(el("span", "flag flag-over", text.over_plan));
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
    // Never under a finger or the mouse pressed on a card: drawn once it is let go.
    if (drag) { drag.redraw = true; return; }
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

  /* A choice of two or more lines: the first names it, the rest describe it. */
  function choiceLines(button, lines) {
    lines.forEach(function (line, i) {
      if (line) button.appendChild(el("span", i === 0 ? "choice-name" : "choice-note " + line.className, line.text));
    });
    return button;
  }

  /* The assign dialog: what the car needs (the promise and estimate, the
     work and its standard hours, what the customer said), each bay with its
     kind and whether it can take the car, each technician with what they may
     sign, what they do now and their load. preset: {bay} or {technician}
     from a drop, chosen here for the foreman to confirm. */
  function assignDialog(order, preset) {
    var dialog = $("assign-dialog");
    var drop = preset || {};
    $("assign-title").textContent = "#" + order.number + " " + order.plate +
      (order.vehicle && order.vehicle.model ? " · " + order.vehicle.model : "");
    var facts = clear($("assign-order"));
    var flagged = flag(order);
    if (flagged) facts.appendChild(flagged);
    facts.appendChild(times(order));
    facts.appendChild(el("h3", "", text.work));
    facts.appendChild(workList(order));
    if (order.complaint) {
      var said = el("p", "complaint");
      said.appendChild(el("span", "complaint-label", text.complaint + ": "));
      said.appendChild(el("q", "", order.complaint));
      facts.appendChild(said);
    }
    var chosenBay = order.bay;
    var chosen = (order.technicians || []).map(function (t) { return t.id; });
    var dropped = "";
    if (drop.bay) {
      var target = data.bays.filter(function (b) { return b.code === drop.bay; })[0];
      if (target && roomFor(target, order)) {
        chosenBay = drop.bay;
        dropped = fill(text.dropped_bay, { bay: drop.bay });
      } else {
        dropped = fill(text.dropped_unavailable, { bay: drop.bay });
      }
    }
    if (drop.technician) {
      var person = data.technicians.filter(function (t) { return t.id === drop.technician; })[0];
      if (chosen.indexOf(drop.technician) < 0) chosen.push(drop.technician);
      dropped = fill(text.dropped_technician, { name: person ? person.name : "" });
    }
    B.page.show($("assign-dropped"), dropped);
    var bayBox = clear($("assign-bays"));
    data.bays.forEach(function (bay) {
      var out = bay.in_service === false;
      var free = roomFor(bay, order);
      var b = toggle("", "bay-choice" + (out ? " out-of-service" : free ? "" : " full"),
        bay.code === chosenBay, { "data-bay": bay.code });
      choiceLines(b, [
        { text: bay.code },
        { text: kindOf(bay), className: "kind" },
        { text: bayState(bay, order), className: "room" }
      ]);
      // A bay that cannot take the car is shown, said why, and not offered.
      if (!free && bay.code !== chosenBay) b.disabled = true;
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
      var b = toggle("", "tech-choice", chosen.indexOf(t.id) >= 0, { "data-technician-id": String(t.id) });
      choiceLines(b, [
        { text: t.name },
        { text: qualifications(t), className: "quals" },
        { text: stateWords(t), className: "state" },
        { text: load(t), className: "load" }
      ]);
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

  // ------------------------------------------------------------ dragging

  /* A job is dragged with the pointer it is pressed with: the mouse from
     anywhere on its card (its buttons stay buttons), a finger or a pen from
     its handle (touch-action: none there, so the rest of the page still
     scrolls under a finger). Dropped on a bay or a technician, the assign
     dialog opens filled in; dropped anywhere else, nothing happens. */
  var drag = null;
  var DRAG_AFTER_PX = 8;

  function handle(order) {
    var grip = el("span", "drag-handle", "⠿");
    grip.title = fill(text.drag_label, { number: order.number, plate: order.plate });
    grip.setAttribute("aria-hidden", "true");
    return grip;
  }

  function draggable(node, order) {
    node.classList.add("draggable");
    node.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || !event.isPrimary) return;
      if (event.target.closest("button, a, input")) return;
      if (event.pointerType !== "mouse" && !event.target.closest(".drag-handle")) return;
      endDrag();  // one left over (a release the page never heard of)
      drag = { order: order, node: node, pointer: event.pointerId, x: event.clientX, y: event.clientY,
        moving: false, ghost: null, target: null, redraw: false };
      if (event.pointerType === "mouse") {
        event.preventDefault();  // no text selection
        // The release is heard even outside the window.
        try { node.setPointerCapture(event.pointerId); } catch (ignored) { /* gone already */ }
      }
    });
  }

  function dropTarget(x, y) {
    var under = document.elementFromPoint(x, y);
    var found = under && under.closest("[data-drop-bay], [data-drop-technician]");
    if (!found) return null;
    if (found.hasAttribute("data-drop-bay")) {
      return { node: found, bay: found.getAttribute("data-drop-bay"), name: found.getAttribute("data-drop-bay") };
    }
    var id = Number(found.getAttribute("data-drop-technician"));
    var person = data.technicians.filter(function (t) { return t.id === id; })[0];
    return { node: found, technician: id, name: person ? person.name : "" };
  }

  function mark(target) {
    if (drag.target && drag.target.node !== (target && target.node)) drag.target.node.classList.remove("drop-over");
    if (target) target.node.classList.add("drop-over");
    drag.target = target;
    // Where it would go, said on the dragged label too (not only a highlight).
    drag.ghost.lastChild.textContent = target ? "→ " + target.name : "";
  }

  function endDrag() {
    if (!drag) return;
    if (drag.target) drag.target.node.classList.remove("drop-over");
    if (drag.ghost) drag.ghost.remove();
    drag.node.classList.remove("dragging");
    document.body.classList.remove("drag-active");
    var redraw = drag.redraw;
    drag = null;
    if (redraw) render();
  }

  document.addEventListener("pointermove", function (event) {
    if (!drag || event.pointerId !== drag.pointer) return;
    if (!drag.moving) {
      if (Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) < DRAG_AFTER_PX) return;
      drag.moving = true;
      var ghost = el("div", "drag-ghost");
      ghost.setAttribute("aria-hidden", "true");
      ghost.appendChild(el("span", "", "#" + drag.order.number + " " + drag.order.plate));
      ghost.appendChild(el("span", "drag-to", ""));
      document.body.appendChild(ghost);
      drag.ghost = ghost;
      drag.node.classList.add("dragging");
      document.body.classList.add("drag-active");
    }
    event.preventDefault();
    drag.ghost.style.transform = "translate(" + (event.clientX + 12) + "px," + (event.clientY + 12) + "px)";
    mark(dropTarget(event.clientX, event.clientY));
  });

  document.addEventListener("pointerup", function (event) {
    if (!drag || event.pointerId !== drag.pointer) return;
    if (!drag.moving) { endDrag(); return; }  // a press, not a drag: the tap path
    var order = drag.order;
    var target = dropTarget(event.clientX, event.clientY);
    endDrag();
    if (!target) return;
    // The dialog reads the newest data for the order (a refresh may have come).
    var current = orderById(order.id) || order;
    assignDialog(current, target.bay ? { bay: target.bay } : { technician: target.technician });
  });

  document.addEventListener("pointercancel", function (event) {
    if (drag && event.pointerId === drag.pointer) endDrag();
  });
  window.addEventListener("blur", endDrag);

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

  $("drag-hint").textContent = text.drag_hint;
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

  // ------------------------------------------------------------ tomorrow's bookings

  /* Tomorrow on the shop's calendar ("2026-11-30"). */
  function tomorrow() {
    var d = new Date(B.wallValue(Date.now()).slice(0, 10) + "T12:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  /* Booked and held against the kind's hours: full at none free, filling
     once three quarters are taken. */
  function loadWord(k) {
    var total = Number(k.total) || 0;
    if (total <= 0 || Number(k.free) <= 0) return "full";
    return (Number(k.booked) + Number(k.held)) / total >= 0.75 ? "filling" : "free";
  }

  function renderTomorrow(day, cap) {
    var list = clear($("tomorrow"));
    $("tomorrow-day").textContent = fill(text.tomorrow_day, {
      day: Number(day.slice(5, 7)) + "/" + Number(day.slice(8, 10))
    });
    if (!cap) { list.appendChild(el("li", "empty", text.tomorrow_unknown)); return; }
    if (cap.open === false) { list.appendChild(el("li", "empty", text.tomorrow_closed)); return; }
    var kinds = Object.keys(cap.labour || {}).filter(function (kind) { return Number(cap.labour[kind].total) > 0; });
    if (!kinds.length) { list.appendChild(el("li", "empty", text.tomorrow_none)); return; }
    kinds.forEach(function (kind) {
      var k = cap.labour[kind];
      var word = loadWord(k);
      var li = el("li", "tomorrow-kind load-" + word);
      li.dataset.kind = kind;
      li.appendChild(el("span", "tomorrow-line", fill(text.tomorrow_kind, {
        kind: (text.kinds || {})[kind] || kind, booked: hours(k.booked), held: hours(k.held), free: hours(k.free)
      })));
      var bar = el("span", "tomorrow-bar");
      bar.setAttribute("aria-hidden", "true");
      var total = Number(k.total) || 1;
      var booked = el("span", "part booked");
      booked.style.width = Math.min(100, 100 * Number(k.booked) / total) + "%";
      var held = el("span", "part held");
      held.style.width = Math.min(100, 100 * Number(k.held) / total) + "%";
      bar.appendChild(held);
      bar.appendChild(booked);
      li.appendChild(bar);
      li.appendChild(el("span", "tomorrow-word", text.tomorrow_load[word]));
      list.appendChild(li);
    });
  }

  var tomorrowTimer = null;
  function loadTomorrow() {
    clearTimeout(tomorrowTimer);
    tomorrowTimer = setTimeout(function () {
      var day = tomorrow();
      B.page.request("GET", "/api/v1/capacity?date=" + day).then(function (reply) {
        renderTomorrow(day, reply.status === 200 ? reply.data : null);
      }, function () { renderTomorrow(day, null); });
    }, 200);
  }
  loadTomorrow();
  // A booking made, moved or cancelled (desk, online, API): read again.
  live.socket.on("appointments", loadTomorrow);
  // A technician's leave days (PATCH /api/v1/staff/{id}, which sends
  // staff_changed) change tomorrow's technician hours: read again at once.
  live.socket.on("staff_changed", loadTomorrow);
  // The work in the shop holds tomorrow's hours too; midnight moves the day.
  setInterval(loadTomorrow, 300000);
})(window.Baylight);
