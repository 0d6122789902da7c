/* Waiting-lounge TV: only the lounge audience's fields ever reach this page
   (queue number, masked plate, stage, ETA). */
(function (B) {
  "use strict";
  var text = B.strings();
  var orders = {};
  var tbody = document.getElementById("orders");
  var empty = document.getElementById("empty");
  var SHOWN = ["checked_in", "dispatched", "in_progress", "paused", "quality_check", "washing", "ready"];

  function render() {
    var list = Object.keys(orders).map(function (id) { return orders[id]; })
      .filter(function (o) { return SHOWN.indexOf(o.stage) >= 0; })
      .sort(function (a, b) { return a.number - b.number; });
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    list.forEach(function (o) {
      var tr = document.createElement("tr");
      tr.className = "stage-" + o.stage + (o.ready ? " ready" : "");
      [String(o.number), o.plate_masked, text.stages[o.stage] || o.stage,
        o.eta ? B.hhmm(new Date(o.eta)) : "—"].forEach(function (value) {
        var td = document.createElement("td");
        td.textContent = value;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    empty.textContent = text.none;
    empty.hidden = list.length > 0;
  }

  B.pair("lounge").then(function (token) {
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
        if (old) return;
        orders[order.id] = order;
        render();
      },
      onRevoked: function () {
        B.api("GET", "/api/v1/whoami", null, token).then(function (reply) {
          if (reply.status === 401) { B.forget("lounge"); window.location.reload(); }
        });
      }
    });
  });
})(window.Baylight);
