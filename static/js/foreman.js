/*
 * Foreman dispatch console. One read (/foreman/api/overview) draws every
 * panel; the socket only says "something changed", so the console never
 * keeps its own copy of the rules. Assignments go through the public REST
 * API with the session cookie and the CSRF token; a stale version is shown
 * with the current state the server sent back, a taken bay with the car on it.
 */
(function (B) {
  "use strict";
  var text = B.strings();
  var data = null;
  var timer = null;

  var $ = B.page.byId, el = B.page.el, clear = B.page.clear, fill = B.fill;

  function time(iso) { return iso ? B.hhmm(new Date(iso)) : "—"; }
  function since(iso) { return B.page.duration(B.page.minutesSince(iso), text); }
  function names(order) {
    return (order.technicians || []).map(function (t) { return t.name; }).join(", ");
  }

  /* The session cookie and the page's CSRF token: the foreman is signed in. */
  function send(method, path, body) {
    return B.page.request(method, path, { body: body, csrf: true });
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
      var card = el("article", "bay");
      card.setAttribute("data-bay", bay.code);
      card.appendChild(el("h3", "bay-code", bay.code));
      var here = data.orders.filter(function (o) {
        return o.bay === bay.code && B.page.inGroup("clocked", o.stage);
      });
      if (!here.length) card.appendChild(el("p", "bay-free", text.free));
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
        card.appendChild(row);
      });
      box.appendChild(card);
    });
  }

  /* A list panel: an item for each entry, or the line that says there are none. */
  function listPanel(id, entries, none, item) {
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
      item.appendChild(el("span", "promised", time(o.promised_at)));
      if (o.priority === "vip") item.appendChild(el("span", "tag tag-vip", text.vip));
      if (o.waiting) item.appendChild(el("span", "tag tag-waiting", text.waiting_customer));
      var b = el("button", "tap tap-primary assign", text.assign);
      b.type = "button";
      b.addEventListener("click", function () { assignDialog(o); });
      item.appendChild(b);
      return item;
    });
  }

  function technicians() {
    var list = clear($("technicians"));
    data.technicians.forEach(function (t) {
      var item = el("li", "tech tech-" + t.state);
      item.setAttribute("data-technician-id", String(t.id));
      item.appendChild(el("span", "name", t.name));
      var label = text[t.state] || t.state;
      if (t.state === "paused" && t.reason) label += " · " + (text.pause[t.reason] || t.reason);
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
    bays(); queue(); technicians(); plan(); exceptions();
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
      var b = toggle(bay.code, "bay-choice", bay.code === chosenBay, { "data-bay": bay.code });
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
  var live = B.connect({ token: null, onSnapshot: refreshSoon, onOrder: function () { refreshSoon(); } });
  // Clocks closed at the shift's end change the figures, not any order.
  live.socket.on("shift_closed", refreshSoon);
})(window.Baylight);
