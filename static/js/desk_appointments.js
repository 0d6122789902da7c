/* Reception desk, appointments (预约, issue 18): book a phone customer into a
   15-minute reception slot of the next days, with the shop's load shaded in
   the grid (free / filling / full, in words as well as colour, from
   GET /api/v1/capacity); a returning car's data filled from the desk's
   vehicle history; a refusal's nearest free times offered as buttons.
   Today's expected arrivals in time order, late ones said in words; check-in
   in one step (the order opens with its queue number and its ticket), cancel
   with a reason, reschedule through the grid, mark a no-show once the grace
   period has passed. Every change is heard on the staff room's
   `appointments` message (desk.js hands over its socket).
   Every mutation carries the CSRF token and an Idempotency-Key kept until
   the server answered; server data reaches the page only through textContent.
   Every time is on the shop's clock (live.js), with the date when not today. */
(function (B) {
  "use strict";
  var text = B.strings();
  var $ = B.page.byId;
  var el = B.page.el;
  var clear = B.page.clear;
  var show = B.page.show;
  var newKey = B.page.newKey;
  var fill = B.fill;

  var caps = {};            // "YYYY-MM-DD" -> that day's capacity (the server's)
  var arrivals = [];        // today's appointments, as the server sent them
  var chosen = null;        // the chosen slot's start (ISO, as the server gave it)
  var bookKey = null;       // the booking's Idempotency-Key until answered
  var moving = null;        // the appointment being rescheduled
  var keys = {};            // "id:command" -> its Idempotency-Key until answered
  var cancelling = {};      // appointment id -> the cancel form is open
  var started = false;

  function request(method, path, body, key) {
    var changing = method !== "GET";
    return B.page.request(method, path, {
      body: body, csrf: changing, key: changing ? key || newKey() : null
    });
  }

  function problem(reply) { return fill(text.error, { detail: B.page.problem(reply) }); }

  /* ------------------------------------------------------------ days */

  /* Today on the shop's calendar, and the days after it ("2026-11-30"). */
  function today() { return B.wallValue(Date.now()).slice(0, 10); }
  function addDays(day, n) {
    var d = new Date(day + "T12:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function gridDays() {
    var first = today();
    var days = [];
    for (var i = 0; i < (text.appt_grid_days || 7); i += 1) days.push(addDays(first, i));
    return days;
  }
  var dayFormat = null;
  function dayLabel(day) {
    if (!dayFormat) {
      try {
        dayFormat = new Intl.DateTimeFormat(document.documentElement.lang || "en",
          { timeZone: "UTC", weekday: "short", month: "numeric", day: "numeric" });
      } catch (old) {
        dayFormat = { format: function (d) { return d.toISOString().slice(5, 10); } };
      }
    }
    return dayFormat.format(new Date(day + "T12:00:00Z"));
  }
  function hours(value) { return (Math.round((Number(value) || 0) * 10) / 10).toFixed(1); }
  function kindName(kind) { return (text.appt_kinds || {})[kind] || kind; }

  /* ------------------------------------------------------------ work items */

  function buildCatalogue() {
    var box = $("appt-catalogue");
    (text.appt_catalogue || []).forEach(function (item) {
      var label = el("label", "appt-item");
      var box2 = el("input");
      box2.type = "checkbox";
      box2.value = item.key;
      box2.className = "appt-pick";
      box2.dataset.key = item.key;
      label.appendChild(box2);
      label.appendChild(document.createTextNode(" " + fill(text.appt_item, {
        label: item.label, hours: hours(item.hours), kind: kindName(item.bay_kind)
      })));
      box.appendChild(label);
    });
    var kinds = $("appt-free-kind");
    Object.keys(text.appt_kinds || {}).forEach(function (kind) {
      if (kind === "wash" || kind === "parking_lane") return;
      var option = el("option", "", kindName(kind));
      option.value = kind;
      kinds.appendChild(option);
    });
    kinds.value = "general";
  }

  /* The chosen work: [{title, labour_hours, bay_kind}]. */
  function items() {
    var list = [];
    (text.appt_catalogue || []).forEach(function (item) {
      var box = document.querySelector('#appt-catalogue input[data-key="' + item.key + '"]');
      if (box && box.checked) list.push({ title: item.title, labour_hours: item.hours, bay_kind: item.bay_kind });
    });
    if ($("appt-free-on").checked) {
      var title = $("appt-free-title").value.trim() || text.appt_free_item;
      var h = parseFloat($("appt-free-hours").value);
      list.push({ title: title, labour_hours: isNaN(h) ? 0 : h, bay_kind: $("appt-free-kind").value });
    }
    return list;
  }

  /* Hours the work needs, by kind of bay. */
  function needs(list) {
    var by = {};
    list.forEach(function (item) { by[item.bay_kind] = (by[item.bay_kind] || 0) + Number(item.labour_hours || 0); });
    return by;
  }

  function workChanged() {
    var list = moving ? moving.items : items();
    var total = list.reduce(function (sum, item) { return sum + Number(item.labour_hours || 0); }, 0);
    show($("appt-total"), total > 0 ? fill(text.appt_hours_total, { hours: hours(total) }) : "");
    bookKey = null;
    renderGrid();
  }

  /* ------------------------------------------------------------ returning car */

  function lookUp() {
    var plate = $("appt-plate").value.trim();
    if (!plate) { show($("appt-history"), ""); return; }
    request("GET", "/desk/api/vehicles?plate=" + encodeURIComponent(plate)).then(function (reply) {
      if (reply.status !== 200) { show($("appt-history"), problem(reply)); return; }
      var found = reply.data;
      $("appt-plate").value = found.plate;
      var summary = found.returning ? fill(text.returning, { count: found.visits }) : text.new_car;
      if (found.quality_customer) summary += " · " + text.quality_customer;
      show($("appt-history"), summary);
      if (!found.last) return;
      [["appt-name", found.last.customer.name], ["appt-phone", found.last.customer.phone],
        ["appt-email", found.last.customer.email], ["appt-model", found.last.vehicle.model],
        ["appt-vin", found.last.vehicle.vin], ["appt-mileage", found.last.vehicle.mileage]
      ].forEach(function (pair) {
        if (!$(pair[0]).value && pair[1] !== undefined && pair[1] !== null && pair[1] !== "") {
          $(pair[0]).value = pair[1];
        }
      });
    });
  }

  /* ------------------------------------------------------------ the grid */

  /* Reads answered out of order: a later read's answer is never replaced
     by an earlier one's (a read sent before a change, answered after the
     read that change's message sent, would show the car as it was). */
  var asked = { arrivals: 0, days: {} };
  var shown = { arrivals: 0, days: {} };

  function loadDay(day) {
    var ticket = (asked.days[day] || 0) + 1;
    asked.days[day] = ticket;
    return request("GET", "/api/v1/capacity?date=" + day).then(function (reply) {
      if (reply.status !== 200 || ticket < (shown.days[day] || 0)) return;
      shown.days[day] = ticket;
      caps[day] = reply.data;
    });
  }

  function loadGrid() {
    return Promise.all(gridDays().map(loadDay)).then(renderGrid, renderGrid);
  }

  function slotsOf(cap) { return (cap && cap.open !== false && cap.slots) || []; }
  function freeOf(slot) {
    return slot.free !== undefined ? Number(slot.free) : Math.max(0, slot.capacity - slot.booked);
  }

  /* The kinds of work the chosen items need that the day has too few hours for. */
  function shortKinds(cap, needed) {
    var labour = (cap && cap.labour) || {};
    return Object.keys(needed).filter(function (kind) {
      var free = labour[kind] ? Number(labour[kind].free) : 0;
      return needed[kind] > free + 1e-9;
    });
  }

  /* Filling: reception has taken part of the slot, or the work would use
     most of what is left of its kind that day. */
  function tight(cap, needed) {
    var labour = (cap && cap.labour) || {};
    return Object.keys(needed).some(function (kind) {
      var k = labour[kind];
      if (!k || !Number(k.total)) return false;
      return Number(k.free) - needed[kind] < 0.25 * Number(k.total);
    });
  }

  function loadOf(slot, cap, needed) {
    // Not offered: too soon (the lead time), beyond the days ahead, or no
    // reception place at all; a slot with no booking and no free place is one.
    if (!slot || slot.withheld || Number(slot.capacity) <= 0) return "closed";
    if (freeOf(slot) <= 0 && !Number(slot.booked)) return "closed";
    if (freeOf(slot) <= 0 || shortKinds(cap, needed).length) return "full";
    if (freeOf(slot) < Number(slot.capacity) || tight(cap, needed)) return "filling";
    return "free";
  }

  function renderGrid() {
    var table = $("appt-grid");
    clear(table);
    var days = gridDays();
    var needed = needs(moving ? moving.items : items());
    var times = {};
    var byDay = {};
    days.forEach(function (day) {
      byDay[day] = {};
      slotsOf(caps[day]).forEach(function (slot) {
        var at = B.hhmm(new Date(slot.start));
        times[at] = true;
        byDay[day][at] = slot;
      });
    });
    var head = el("thead");
    var row = el("tr");
    row.appendChild(el("th", "corner", ""));
    days.forEach(function (day) {
      var th = el("th", "day");
      th.scope = "col";
      th.dataset.day = day;
      th.appendChild(el("span", "day-name", dayLabel(day)));
      var cap = caps[day];
      if (!cap) {
        th.appendChild(el("span", "day-note", text.appt_loading));
      } else if (cap.open === false) {
        th.appendChild(el("span", "day-note closed", text.appt_day_closed));
      } else {
        Object.keys(needed).forEach(function (kind) {
          var free = cap.labour && cap.labour[kind] ? cap.labour[kind].free : 0;
          th.appendChild(el("span", "day-note", fill(text.appt_day_free, { kind: kindName(kind), hours: hours(free) })));
        });
        shortKinds(cap, needed).forEach(function (kind) {
          th.appendChild(el("span", "day-note short", fill(text.appt_day_short, { kind: kindName(kind) })));
        });
      }
      row.appendChild(th);
    });
    head.appendChild(row);
    table.appendChild(head);
    var body = el("tbody");
    Object.keys(times).sort().forEach(function (at) {
      var tr = el("tr");
      var th = el("th", "time", at);
      th.scope = "row";
      tr.appendChild(th);
      days.forEach(function (day) {
        var td = el("td");
        var slot = byDay[day][at];
        if (slot) {
          var load = loadOf(slot, caps[day], needed);
          var button = el("button", "slot load-" + load, text.appt_load[load]);
          button.type = "button";
          button.dataset.start = slot.start;
          button.dataset.load = load;
          var label = fill(text.appt_slot_label, {
            time: B.when(slot.start), load: text.appt_load[load],
            free: freeOf(slot), capacity: slot.capacity
          });
          button.title = label;
          button.setAttribute("aria-label", label);
          button.disabled = load === "closed";
          var isChosen = chosen && Date.parse(chosen) === Date.parse(slot.start);
          button.setAttribute("aria-pressed", isChosen ? "true" : "false");
          if (isChosen) button.classList.add("chosen");
          button.addEventListener("click", function () { choose(slot.start); });
          td.appendChild(button);
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
  }

  function choose(start) {
    chosen = start;
    bookKey = null;
    show($("appt-chosen"), fill(text.appt_chosen, { time: B.when(start) }));
    $("appt-reschedule-now").disabled = !moving;
    renderGrid();
  }

  /* ------------------------------------------------------------ booking */

  function consent() {
    return Array.prototype.filter.call(document.querySelectorAll("#appt-consent input[name=notify]"),
      function (box) { return box.checked; }).map(function (box) { return box.value; });
  }

  function bookingBody() {
    var mileage = $("appt-mileage").value;
    return {
      plate: $("appt-plate").value.trim(),
      customer: {
        name: $("appt-name").value, phone: $("appt-phone").value,
        email: $("appt-email").value.trim(), notify: consent(),
        language: $("appt-language").value
      },
      vehicle: { model: $("appt-model").value, vin: $("appt-vin").value,
        mileage: mileage === "" ? null : parseInt(mileage, 10) },
      complaint: $("appt-complaint").value,
      items: items(),
      start: chosen,
      source: "desk"
    };
  }

  /* A refusal for lack of room: why, and the nearest free times as buttons
     that take one of them (book, or move the appointment being moved). */
  function offerAlternatives(reply, take) {
    var box = $("appt-alternatives");
    clear(box);
    var data = reply.data || {};
    var alternatives = data.alternatives || [];
    var code = data.refusal || data.reason;
    var reason = (text.appt_refusals || {})[code] || data.detail || data.title || "";
    if (!alternatives.length) {
      box.appendChild(el("p", "message", text.appt_full_none));
    } else {
      box.appendChild(el("p", "message", fill(text.appt_full, { reason: reason })));
      alternatives.forEach(function (start) {
        var b = el("button", "alternative", fill(text.appt_take, { time: B.when(start) }));
        b.type = "button";
        b.dataset.start = start;
        b.addEventListener("click", function () { choose(start); take(); });
        box.appendChild(b);
      });
    }
    box.hidden = false;
  }

  function book() {
    show($("appt-message"), "");
    $("appt-alternatives").hidden = true;
    $("appt-booked").hidden = true;
    var body = bookingBody();
    if (!body.plate) { show($("appt-message"), text.appt_no_plate); return; }
    if (!body.items.length) { show($("appt-message"), text.appt_no_items); return; }
    if (!chosen) { show($("appt-message"), text.appt_no_slot); return; }
    if (!bookKey) bookKey = newKey();
    $("appt-book").disabled = true;
    request("POST", "/api/v1/appointments", body, bookKey).then(function (reply) {
      $("appt-book").disabled = false;
      if (reply.status === 201) {
        bookKey = null;
        var booked = reply.data.appointment || reply.data;
        show($("appt-booked"), fill(text.appt_booked_short, { time: B.when(booked.start), plate: booked.plate }));
        resetForm();
        loadGrid();
        loadArrivals();
        return;
      }
      // A refusal is bound to its key: the corrected booking is a new request.
      if (reply.status >= 400 && reply.status < 500) bookKey = null;
      if (reply.status === 409 && reply.data.code === "capacity_full") {
        offerAlternatives(reply, book);
        loadGrid();
        return;
      }
      show($("appt-message"), problem(reply));
    }, function () {
      // No answer: the key stays, so a retry cannot book twice.
      $("appt-book").disabled = false;
      show($("appt-message"), fill(text.error, { detail: "network" }));
    });
  }

  function resetForm() {
    $("appt-form").reset();
    $("appt-free-kind").value = "general";
    show($("appt-history"), "");
    chosen = null;
    show($("appt-chosen"), "");
    workChanged();
  }

  /* ------------------------------------------------------------ today's arrivals */

  function loadArrivals() {
    var ticket = ++asked.arrivals;
    return request("GET", "/api/v1/appointments?date=" + today()).then(function (reply) {
      if (ticket < shown.arrivals) return;
      shown.arrivals = ticket;
      if (reply.status !== 200) { show($("appt-arrivals-message"), problem(reply)); return; }
      arrivals = Array.isArray(reply.data) ? reply.data : (reply.data.appointments || []);
      renderArrivals();
    });
  }

  function lateMinutes(a) {
    if (a.status !== "booked") return 0;
    var minutes = Math.floor((Date.now() - Date.parse(a.start)) / 60000);
    return minutes > 0 ? minutes : (a.late ? 1 : 0);
  }

  function button(label, className, onClick) {
    var b = el("button", className, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  /* Runs one command on an appointment: its key kept until answered. */
  function command(a, name, body, done) {
    var slot = a.id + ":" + name;
    if (!keys[slot]) keys[slot] = newKey();
    body.version = a.version;
    show($("appt-arrivals-message"), "");
    return request("POST", "/api/v1/appointments/" + a.id + "/" + name, body, keys[slot]).then(function (reply) {
      if (reply.status >= 200 && reply.status < 300) {
        delete keys[slot];
        done(reply);
        loadArrivals();
        loadGrid();
        return;
      }
      if (reply.status >= 400 && reply.status < 500) delete keys[slot];
      if (reply.status === 409 && reply.data.code === "stale_version") {
        show($("appt-arrivals-message"), text.appt_stale);
        loadArrivals();
        return;
      }
      if (reply.status === 409 && reply.data.code === "capacity_full") {
        offerAlternatives(reply, moveNow);
        return;
      }
      show($("appt-arrivals-message"), problem(reply));
      // Refused (no longer booked, not allowed…): shown as it is now.
      loadArrivals();
    }, function () {
      // No answer: the key stays for a retry; the buttons come back.
      show($("appt-arrivals-message"), fill(text.error, { detail: "network" }));
      renderArrivals();
    });
  }

  function checkIn(a) {
    command(a, "check-in", {}, function (reply) {
      var order = reply.data.order || reply.data;
      $("appt-checkin-text").textContent = fill(text.appt_checked_in, { number: order.number });
      $("appt-ticket-a5").href = "/orders/" + order.id + "/ticket";
      $("appt-ticket-80").href = "/orders/" + order.id + "/ticket?paper=80mm";
      $("appt-checkin-done").hidden = false;
    });
  }

  function cancelForm(a) {
    var form = el("form", "appt-cancel");
    var label = el("label", "", text.appt_cancel_reason);
    var reason = el("input");
    // The server's own limit (shared/services/appointments.py REASON_MAX).
    reason.maxLength = text.appt_reason_max || 500;
    reason.className = "appt-cancel-reason";
    label.appendChild(reason);
    form.appendChild(label);
    var now = el("button", "danger", text.appt_cancel_now);
    now.type = "submit";
    form.appendChild(now);
    form.appendChild(button(text.appt_cancel_keep, "", function () { delete cancelling[a.id]; renderArrivals(); }));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var why = reason.value.trim();
      if (!why) { show($("appt-arrivals-message"), text.appt_cancel_missing); return; }
      command(a, "cancel", { reason: why }, function () {
        delete cancelling[a.id];
        show($("appt-arrivals-message"), text.appt_cancelled);
      });
    });
    return form;
  }

  function startMoving(a) {
    moving = a;
    chosen = null;
    show($("appt-chosen"), "");
    $("appt-rescheduling-text").textContent = fill(text.appt_rescheduling, { plate: a.plate });
    $("appt-rescheduling").hidden = false;
    $("appt-reschedule-now").disabled = true;
    $("appt-book").hidden = true;
    $("appt-booking").open = true;
    workChanged();
    $("appt-grid").scrollIntoView({ block: "nearest" });
  }

  function stopMoving() {
    moving = null;
    chosen = null;
    show($("appt-chosen"), "");
    $("appt-rescheduling").hidden = true;
    $("appt-book").hidden = false;
    $("appt-alternatives").hidden = true;
    workChanged();
  }

  function moveNow() {
    if (!moving || !chosen) return;
    var a = moving;
    var start = chosen;
    $("appt-alternatives").hidden = true;
    command(a, "reschedule", { start: start }, function (reply) {
      var moved = reply.data.appointment || reply.data;
      stopMoving();
      show($("appt-arrivals-message"), fill(text.appt_rescheduled, { time: B.when(moved.start || start) }));
    });
  }

  function arrivalItem(a) {
    var li = el("li", "appt-arrival status-" + a.status);
    li.dataset.id = a.id;
    var late = lateMinutes(a);
    if (late) li.classList.add("late");
    var head = el("div", "appt-head");
    head.appendChild(el("span", "appt-time", B.when(a.start)));
    head.appendChild(el("strong", "appt-plate", a.plate));
    head.appendChild(el("span", "appt-status", (text.appt_statuses || {})[a.status] || a.status));
    if (late) head.appendChild(el("span", "appt-late", fill(text.appt_late, { minutes: late })));
    li.appendChild(head);
    var customer = a.customer || {};
    var who = [customer.name, customer.phone].filter(function (x) { return x; }).join(" · ");
    if (who) li.appendChild(el("div", "appt-customer", who));
    var work = (a.items || []).map(function (item) { return item.title; }).join(text.appt_items_separator);
    if (work) li.appendChild(el("div", "appt-work", work));
    var flags = [];
    if (a.source === "online") flags.push(text.appt_online);
    if (a.status === "booked") flags.push(a.confirmed ? text.appt_confirmed : text.appt_unconfirmed);
    if (flags.length) li.appendChild(el("div", "appt-flags", flags.join(" · ")));
    var actions = el("div", "appt-actions");
    if (a.status === "booked") {
      var check = button(text.appt_check_in, "primary appt-check-in", function () { check.disabled = true; checkIn(a); });
      check.setAttribute("aria-label", fill(text.appt_check_in_plate, { plate: a.plate }));
      actions.appendChild(check);
      actions.appendChild(button(text.appt_reschedule, "appt-move", function () { startMoving(a); }));
      actions.appendChild(button(text.appt_cancel, "appt-cancel-open", function () { cancelling[a.id] = true; renderArrivals(); }));
      if (a.no_show_due) {
        actions.appendChild(button(text.appt_no_show, "danger appt-no-show", function () {
          command(a, "no-show", {}, function () { show($("appt-arrivals-message"), text.appt_no_show_done); });
        }));
      }
    } else if (a.status === "checked_in" && a.order_id) {
      var link = el("a", "appt-ticket", text.appt_order_link);
      link.href = "/orders/" + a.order_id + "/ticket";
      link.target = "_blank";
      link.rel = "noopener";
      actions.appendChild(link);
    }
    li.appendChild(actions);
    if (cancelling[a.id] && a.status === "booked") li.appendChild(cancelForm(a));
    return li;
  }

  function renderArrivals() {
    var list = $("appt-arrivals");
    // A cancel reason half typed survives the redraw.
    var typed = {};
    Array.prototype.forEach.call(list.querySelectorAll("li[data-id]"), function (li) {
      var input = li.querySelector(".appt-cancel-reason");
      if (input) typed[li.dataset.id] = input.value;
    });
    clear(list);
    var sorted = arrivals.slice().sort(function (a, b) { return Date.parse(a.start) - Date.parse(b.start) || a.id - b.id; });
    if (!sorted.length) list.appendChild(el("li", "empty", text.appt_none_today));
    sorted.forEach(function (a) {
      var li = arrivalItem(a);
      var input = li.querySelector(".appt-cancel-reason");
      if (input && typed[a.id]) input.value = typed[a.id];
      list.appendChild(li);
    });
    if (moving) {
      var still = sorted.filter(function (a) { return a.id === moving.id && a.status === "booked"; })[0];
      // Its newest version goes with the move; one no longer booked is not moved.
      if (still) moving = still;
      else if (sorted.some(function (a) { return a.id === moving.id; })) stopMoving();
    }
  }

  /* ------------------------------------------------------------ start */

  var pending = null;
  function changed() {
    // Several changes in a burst are read once; every day of the grid, since
    // a move frees one day and fills another.
    clearTimeout(pending);
    pending = setTimeout(function () {
      loadArrivals();
      loadGrid();
    }, 200);
  }

  function start(live) {
    if (started || !$("appointments")) return;
    started = true;
    buildCatalogue();
    $("appt-catalogue").addEventListener("change", workChanged);
    ["appt-free-on", "appt-free-title", "appt-free-hours", "appt-free-kind"].forEach(function (id) {
      $(id).addEventListener("input", workChanged);
      $(id).addEventListener("change", workChanged);
    });
    $("appt-plate").addEventListener("change", lookUp);
    $("appt-form").addEventListener("input", function () { bookKey = null; });
    $("appt-form").addEventListener("submit", function (event) { event.preventDefault(); });
    $("appt-book").addEventListener("click", book);
    $("appt-reschedule-now").addEventListener("click", moveNow);
    $("appt-reschedule-stop").addEventListener("click", stopMoving);
    workChanged();
    loadGrid();
    loadArrivals();
    if (live && live.socket) live.socket.on("appointments", changed);
    // Lateness and a no-show's due time move with the clock, not with messages.
    setInterval(loadArrivals, 60000);
    // Slots pass out of reach as time goes by (the lead time): read again.
    setInterval(loadGrid, 300000);
  }

  B.deskAppointments = {
    start: start,
    // The desk's socket came back (or first connected): read everything again.
    resync: function () { if (started) changed(); }
  };
})(window.Baylight);
