/* The dealer group's page (/group): every shop's counts, kept live by
   asking the server for them every 15 s (the table's data-every) and
   writing the numbers in with textContent. A shop made meanwhile appears
   at the next load of the page. When the person may no longer see the
   group (membership taken back, signed out), the page is loaded again and
   the server says so. Words come from the page (#strings), never from here. */
(function () {
  "use strict";
  var table = document.getElementById("shops");
  if (!table) return;
  var text = JSON.parse(document.getElementById("strings").textContent);
  var updated = document.getElementById("updated");
  var stale = document.getElementById("stale");
  var every = Number(table.getAttribute("data-every")) || 15000;
  var lastGood = new Date();

  // The viewer's own shop's clock (its <meta>), never the device's.
  var zoneMeta = document.querySelector('meta[name="baylight-shop-timezone"]');
  var zone = zoneMeta ? zoneMeta.getAttribute("content") : undefined;

  function clock(date) {
    return date.toLocaleTimeString(document.documentElement.lang || undefined,
      { timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  function fill(template, time) { return template.replace("{time}", time); }

  function write(shop) {
    var row = table.querySelector('tr[data-shop="' + shop.slug.replace(/[^a-z0-9-]/g, "") + '"]');
    if (!row) return;
    ["active", "late", "at_risk", "ready"].forEach(function (key) {
      var cell = row.querySelector('[data-count="' + key + '"]');
      if (!cell) return;
      cell.textContent = String(shop[key]);
      if (key === "late") cell.classList.toggle("late", shop[key] > 0);
      if (key === "at_risk") cell.classList.toggle("at-risk", shop[key] > 0);
    });
  }

  function poll() {
    fetch("/group/api/counts", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (reply) {
        if (reply.status === 401 || reply.status === 403) {
          window.location.reload();
          return null;
        }
        if (!reply.ok) throw new Error("HTTP " + reply.status);
        return reply.json();
      })
      .then(function (data) {
        if (!data) return;
        data.shops.forEach(write);
        lastGood = new Date();
        updated.textContent = fill(text.updated, clock(lastGood));
        stale.hidden = true;
      })
      .catch(function () {
        stale.textContent = fill(text.stale, clock(lastGood));
        stale.hidden = false;
      })
      .then(function () { setTimeout(poll, every); });
  }

  updated.textContent = fill(text.updated, clock(lastGood));
  setTimeout(poll, every);
})();
