/* Workshop wall board: every active order, live. Socket data only ever goes
   into the page through textContent. */
(function (B) {
  "use strict";
  var text = B.strings();
  var orders = {};
  var tbody = document.getElementById("orders");
  var empty = document.getElementById("empty");
  var ACTIVE = ["booked", "checked_in", "dispatched", "in_progress", "paused",
    "quality_check", "washing", "ready"];

  function time(iso) { return iso ? B.hhmm(new Date(iso)) : "—"; }

  function cell(row, value, className) {
    var td = document.createElement("td");
    td.textContent = value;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function render() {
    var list = Object.keys(orders).map(function (id) { return orders[id]; })
      .filter(function (o) { return ACTIVE.indexOf(o.stage) >= 0; })
      .sort(function (a, b) { return a.number - b.number; });
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    list.forEach(function (o) {
      var tr = document.createElement("tr");
      tr.className = "stage-" + o.stage + (o.late ? " late" : "");
      tr.setAttribute("data-order-id", String(o.id));
      cell(tr, String(o.number), "number");
      cell(tr, o.plate, "plate");
      cell(tr, (o.vehicle && o.vehicle.model) || "", "model");
      var stage = text.stages[o.stage] || o.stage;
      if (o.stage === "paused" && o.pause_reason) stage += " · " + (text.pause[o.pause_reason] || "");
      cell(tr, stage, "stage");
      cell(tr, o.bay || "—", "bay");
      cell(tr, (o.technicians || []).map(function (t) { return t.name; }).join(", "), "techs");
      cell(tr, time(o.promised_at), "promised");
      cell(tr, time(o.eta), "eta");
      tbody.appendChild(tr);
    });
    empty.textContent = text.none;
    empty.hidden = list.length > 0;
  }

  function start(token) {
    document.getElementById("live").hidden = false;
    B.clock(document.getElementById("clock"));
    B.reloadDaily(4);
    B.connect({
      token: token,
      audienceSeesAll: true,
      onSnapshot: function (snapshot) {
        orders = {};
        snapshot.orders.forEach(function (o) { orders[o.id] = o; });
        render();
      },
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
  }

  B.pair("board").then(start);
})(window.Baylight);
