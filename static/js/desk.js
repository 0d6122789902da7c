/* Reception desk: open an order in under a minute (plate first: a returning
   car fills the form), print its ticket, follow the cars in the shop live,
   record phone decisions, hand over, and work the follow-up call list.
   Every mutation sends the CSRF token (meta tag) and an Idempotency-Key that
   is kept until the server has answered, so a retried click never opens a
   second order. Server data reaches the page only through textContent. */
(function (B) {
  "use strict";
  var text = B.strings();
  var form = document.getElementById("order-form");
  var orders = {};
  var offset = null;
  var formKey = null;
  var photos = {};            // order id -> {quote id: picture URL}
  var photosAsked = {};       // order id -> the pending quote ids last asked about
  var images = {};            // "order:quote" -> <a><img></a>, kept across redraws

  var $ = B.page.byId;
  var el = B.page.el;
  var clear = B.page.clear;
  var show = B.page.show;
  var newKey = B.page.newKey;
  var fill = B.fill;

  /* Every change carries the CSRF token and an Idempotency-Key: the caller's
     (kept until the server has answered), else a new one. */
  function request(method, path, body, key) {
    var changing = method !== "GET";
    return B.page.request(method, path, {
      body: body, csrf: changing, key: changing ? key || newKey() : null
    });
  }

  function problem(reply) {
    return fill(text.error, { detail: B.page.problem(reply) });
  }

  /* ------------------------------------------------------------ intake */

  function addItem(title, hours) {
    var row = $("item-row").content.firstElementChild.cloneNode(true);
    row.querySelector(".item-title").value = title || "";
    row.querySelector(".item-hours").value = hours === undefined ? "" : hours;
    row.querySelector(".remove-item").addEventListener("click", function () {
      row.parentNode.removeChild(row);
      hoursChanged();
    });
    row.querySelector(".item-hours").addEventListener("input", hoursChanged);
    $("items").appendChild(row);
  }

  function items() {
    var list = [];
    Array.prototype.forEach.call($("items").querySelectorAll(".item-row"), function (row) {
      var title = row.querySelector(".item-title").value.trim();
      var hours = parseFloat(row.querySelector(".item-hours").value);
      if (title) list.push({ title: title, labour_hours: isNaN(hours) ? 0 : hours });
    });
    return list;
  }

  function totalHours() {
    return items().reduce(function (sum, item) { return sum + item.labour_hours; }, 0);
  }

  var suggestTimer = null;
  var promisedTouched = false;
  function hoursChanged() {
    var total = Math.round(totalHours() * 100) / 100;
    $("total-hours").textContent = String(total);
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(function () {
      request("GET", "/desk/api/promise?labour_hours=" + encodeURIComponent(total)).then(function (reply) {
        if (reply.status !== 200) return;
        var local = reply.data.promised_at.slice(0, 16);
        offset = reply.data.promised_at.slice(19);
        $("suggestion").textContent = fill(text.suggested, {
          time: local.replace("T", " "), backlog: reply.data.backlog_hours,
          technicians: reply.data.technicians
        });
        if (!promisedTouched) $("promised-at").value = local;
      });
    }, 250);
  }

  function browserOffset() {
    var minutes = -new Date().getTimezoneOffset();
    var sign = minutes >= 0 ? "+" : "-";
    var abs = Math.abs(minutes);
    return sign + ("0" + Math.floor(abs / 60)).slice(-2) + ":" + ("0" + (abs % 60)).slice(-2);
  }

  function lookUp() {
    var plate = $("plate").value.trim();
    var panel = $("history");
    if (!plate) { panel.hidden = true; return; }
    request("GET", "/desk/api/vehicles?plate=" + encodeURIComponent(plate)).then(function (reply) {
      if (reply.status !== 200) { panel.hidden = false; show($("history-summary"), problem(reply)); clear($("history-list")); return; }
      var found = reply.data;
      $("plate").value = found.plate;
      panel.hidden = false;
      var summary = found.returning ? fill(text.returning, { count: found.visits }) : text.new_car;
      if (found.quality_customer) summary += " · " + text.quality_customer;
      $("history-summary").textContent = summary;
      panel.classList.toggle("returning", found.returning);
      var list = $("history-list");
      clear(list);
      found.orders.forEach(function (past) {
        var li = el("li", "visit");
        var line = past.business_day + " · " + (past.mileage === null ? "" : past.mileage + " km · ") +
          (past.items.join(", ") || past.complaint);
        li.appendChild(el("span", "", line));
        if (past.declined.length) li.appendChild(el("span", "declined", " · " + text.reasons.declined_work + ": " + past.declined.join(", ")));
        list.appendChild(li);
      });
      if (found.last) {
        var fields = [["customer-name", found.last.customer.name], ["customer-phone", found.last.customer.phone],
          ["vehicle-model", found.last.vehicle.model], ["vehicle-vin", found.last.vehicle.vin]];
        fields.forEach(function (pair) { if (!$(pair[0]).value && pair[1]) $(pair[0]).value = pair[1]; });
      }
    });
  }

  function orderBody() {
    var mileage = $("vehicle-mileage").value;
    var promised = $("promised-at").value;
    var body = {
      plate: $("plate").value,
      customer: { name: $("customer-name").value, phone: $("customer-phone").value },
      vehicle: { model: $("vehicle-model").value, vin: $("vehicle-vin").value,
        mileage: mileage === "" ? null : parseInt(mileage, 10) },
      complaint: $("complaint").value,
      items: items(),
      waiting: $("waiting-yes").checked,
      wash: $("wash").checked,
      priority: $("vip").checked ? "vip" : "normal"
    };
    if (promised) body.promised_at = promised + ":00" + (offset || browserOffset());
    return body;
  }

  function submitOrder(event) {
    event.preventDefault();
    if (!formKey) formKey = newKey();
    $("create").disabled = true;
    show($("form-message"), "");
    request("POST", "/api/v1/orders", orderBody(), formKey).then(function (reply) {
      $("create").disabled = false;
      if (reply.status !== 201) {
        // A refusal is bound to its key: the corrected form is a new request.
        // A lost answer (no status) keeps the key, so a retry cannot open twice.
        if (reply.status >= 400 && reply.status < 500) formKey = null;
        show($("form-message"), problem(reply));
        return;
      }
      formKey = null;
      var order = reply.data;
      orders[order.id] = order;
      renderOrders();
      $("created-text").textContent = fill(text.created, { number: order.number });
      $("ticket-a5").href = "/orders/" + order.id + "/ticket";
      $("ticket-80").href = "/orders/" + order.id + "/ticket?paper=80mm";
      $("created").hidden = false;
      form.reset();
      clear($("items"));
      addItem();
      promisedTouched = false;
      $("history").hidden = true;
      hoursChanged();
    }, function () {
      $("create").disabled = false;
      show($("form-message"), fill(text.error, { detail: "network" }));
    });
  }

  /* ------------------------------------------------------------ orders */

  function decidePhone(order, quote, approved) {
    request("POST", "/api/v1/orders/" + order.id + "/extra-work/" + quote.id + "/decision",
      { approved: approved, quote_version: quote.version, channel: "phone" }).then(function (reply) {
      if (reply.status === 200) { orders[order.id] = reply.data; renderOrders(); }
      else window.alert(problem(reply));
    });
  }

  function reissue(order) {
    request("POST", "/desk/api/orders/" + order.id + "/customer-link", { reason: "" }).then(function (reply) {
      if (reply.status === 200) {
        window.alert(text.link_reissued);
        window.open("/orders/" + order.id + "/ticket", "_blank", "noopener");
      } else window.alert(problem(reply));
    });
  }

  function handoverForm(order, container) {
    var handover = $("handover-form").content.firstElementChild.cloneNode(true);
    var key = null;
    handover.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!key) key = newKey();
      var data = {
        version: orders[order.id].version,
        final_check_done: handover.elements.final_check_done.checked,
        old_parts_shown: handover.elements.old_parts_shown.checked,
        next_service_date: handover.elements.next_service_date.value,
        next_service_mileage: parseInt(handover.elements.next_service_mileage.value, 10) || 0,
        note: handover.elements.note.value
      };
      request("POST", "/desk/api/orders/" + order.id + "/handover", data, key).then(function (reply) {
        if (reply.status === 200) { delete orders[order.id]; renderOrders(); loadFollowUps(); }
        else { key = null; window.alert(problem(reply)); }
      });
    });
    container.appendChild(handover);
  }

  /* Which pending quotes of an order have a photo: asked when they change and
     on the server's "photo" hint, so the desk never requests a missing one. */
  function loadPhotos(orderId) {
    request("GET", "/api/v1/orders/" + orderId + "/photos").then(function (reply) {
      if (reply.status !== 200) return;
      var found = {};
      reply.data.photos.forEach(function (p) { found[p.quote_id] = p.photo_url; });
      photos[orderId] = found;
      renderOrders();
    });
  }

  function pendingQuotes(order) {
    return (order.quotes || []).filter(function (q) { return q.status === "pending"; });
  }

  function askPhotos(order, force) {
    var ids = pendingQuotes(order).map(function (q) { return q.id; }).join(",");
    if (!ids || (!force && photosAsked[order.id] === ids)) return;
    photosAsked[order.id] = ids;
    loadPhotos(order.id);
  }

  function photoOf(order, quote) {
    var url = (photos[order.id] || {})[quote.id];
    if (!url) return null;
    var key = order.id + ":" + quote.id;
    if (!images[key]) {
      var link = el("a", "quote-photo");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      var img = el("img");
      img.src = url;
      img.alt = quote.description;
      img.height = 96;
      link.appendChild(img);
      images[key] = link;
    }
    return images[key];
  }

  function orderItem(order) {
    var li = el("li", "order stage-" + order.stage + (order.late ? " late" : ""));
    li.setAttribute("data-order-id", String(order.id));
    var head = el("div", "head");
    head.appendChild(el("span", "number", String(order.number)));
    head.appendChild(el("span", "plate", order.plate));
    var stage = text.stages[order.stage] || order.stage;
    if (order.stage === "paused" && order.pause_reason) stage += " · " + (text.pause[order.pause_reason] || "");
    head.appendChild(el("span", "stage", stage));
    head.appendChild(el("span", "customer", (order.customer && order.customer.name) || ""));
    li.appendChild(head);
    var actions = el("div", "actions");
    var ticket = el("a", "", text.print_ticket);
    ticket.href = "/orders/" + order.id + "/ticket";
    ticket.target = "_blank";
    ticket.rel = "noopener";
    actions.appendChild(ticket);
    var link = el("button", "", text.new_link);
    link.type = "button";
    link.addEventListener("click", function () { reissue(order); });
    actions.appendChild(link);
    li.appendChild(actions);
    askPhotos(order, false);
    pendingQuotes(order).forEach(function (q) {
      var row = el("div", "quote");
      row.setAttribute("data-quote-id", String(q.id));
      row.appendChild(el("span", "", q.description + " · " + q.labour_hours + " h · ¥" + (q.price_cents / 100).toFixed(2)));
      var photo = photoOf(order, q);
      if (photo) row.appendChild(photo);
      [[true, text.approve_phone], [false, text.decline_phone]].forEach(function (choice) {
        var button = el("button", "", choice[1]);
        button.type = "button";
        button.addEventListener("click", function () { decidePhone(order, q, choice[0]); });
        row.appendChild(button);
      });
      li.appendChild(row);
    });
    if (order.stage === "ready") handoverForm(order, li);
    return li;
  }

  function renderOrders() {
    var list = $("orders");
    clear(list);
    Object.keys(orders).map(function (id) { return orders[id]; })
      .filter(function (o) { return o.stage !== "delivered" && o.stage !== "cancelled"; })
      .sort(function (a, b) { return a.id - b.id; })
      .forEach(function (o) { list.appendChild(orderItem(o)); });
  }

  /* ------------------------------------------------------------ follow-ups */

  function loadFollowUps() {
    request("GET", "/desk/api/follow-ups").then(function (reply) {
      var list = $("follow-ups");
      clear(list);
      if (reply.status !== 200) return;
      if (!reply.data.calls.length) { list.appendChild(el("li", "empty", text.no_follow_ups)); return; }
      reply.data.calls.forEach(function (call) {
        var li = el("li", "call");
        li.setAttribute("data-order-id", String(call.id));
        li.appendChild(el("p", "who", call.plate + " · " + call.customer.name + " · " + call.customer.phone));
        li.appendChild(el("p", "why", call.reasons.map(function (r) { return text.reasons[r] || r; }).join(" · ") +
          (call.survey_rating ? " · " + call.survey_rating + "/5" : "") +
          (call.declined.length ? " · " + call.declined.join(", ") : "")));
        var note = el("input", "note");
        note.maxLength = 1000;
        li.appendChild(note);
        Object.keys(text.outcomes).forEach(function (outcome) {
          var button = el("button", "", text.outcomes[outcome]);
          button.type = "button";
          button.addEventListener("click", function () {
            request("POST", "/desk/api/orders/" + call.id + "/follow-ups", { outcome: outcome, note: note.value })
              .then(function (answer) { if (answer.status === 201) loadFollowUps(); else window.alert(problem(answer)); });
          });
          li.appendChild(button);
        });
        list.appendChild(li);
      });
    });
  }

  /* ------------------------------------------------------------ start */

  $("add-item").addEventListener("click", function () { addItem(); });
  $("plate").addEventListener("change", lookUp);
  $("promised-at").addEventListener("input", function () { promisedTouched = true; });
  form.addEventListener("submit", submitOrder);
  form.addEventListener("input", function (event) {
    // Another request body needs another key; the same body keeps it for retries.
    if (event.target.id !== "promised-at" || promisedTouched) formKey = null;
  });
  addItem();
  hoursChanged();
  loadFollowUps();

  var live = B.connect({
    token: null,
    audienceSeesAll: true,
    onSnapshot: function (snapshot) {
      // Photos may have arrived while the desk was away: ask again.
      photosAsked = {};
      orders = {};
      snapshot.orders.forEach(function (o) { orders[o.id] = o; });
      renderOrders();
    },
    onOrder: function (order, seq, old) {
      var known = orders[order.id];
      if (known && known.version > order.version) return;
      orders[order.id] = order;
      renderOrders();
    }
  });
  live.socket.on("photo", function (hint) {
    if (hint && orders[hint.order_id]) askPhotos(orders[hint.order_id], true);
  });
})(window.Baylight);
