/* Reception desk: open an order in under a minute (plate first: a returning
   car fills the form), print its ticket, follow the cars in the shop live
   (what each paused car waits for, its parts requests: ordered with the
   expected arrival, arrived), revise a pending quote, record the customer's
   decision by phone or in person (with a signature, signature.js), follow up
   an expired quote, hand over (a dialog), issue a new customer link (a
   dialog: confirmed, with the reason, then the reprint), work the follow-up
   call list, keep the open complaints until resolved, serve a
   customer's request to export or erase their data (plate + phone), record
   which messages the customer agrees to at reception, show each order's
   messages and their status, send a one-off message, and raise an alert
   for a message that failed. The appointments part (预约: phone bookings,
   today's arrivals, check-in from a booking) is desk_appointments.js, started
   here with the desk's socket.
   The cars in the shop are a sortable, searchable table, late and at risk
   first; a car's details open under its row on demand.
   Every mutation sends the CSRF token (meta tag) and an Idempotency-Key that
   is kept until the server has answered, so a retried click never opens a
   second order. Server data reaches the page only through textContent. */
(function (B) {
  "use strict";
  var text = B.strings();
  var form = document.getElementById("order-form");
  var orders = {};
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
    // "工时 1.5 小时" in words; no line at all while nothing is booked.
    $("total-hours").textContent = total > 0 ? fill(text.hours_total, { hours: total }) : "";
    $("total-hours").hidden = !(total > 0);
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(function () {
      var waiting = $("waiting-yes").checked ? "true" : "false";
      request("GET", "/desk/api/promise?labour_hours=" + encodeURIComponent(total) +
        "&waiting=" + waiting).then(function (reply) {
        if (reply.status !== 200) return;
        var local = reply.data.promised_at.slice(0, 16);
        $("suggestion").textContent = fill(text.suggested, {
          time: B.when(reply.data.promised_at), start: B.when(reply.data.starts_at),
          backlog: reply.data.backlog_hours, technicians: reply.data.technicians
        });
        if (!promisedTouched) $("promised-at").value = local;
      });
    }, 250);
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
        var line = past.business_day + " · " +
          (past.mileage === null ? "" : fill(text.visit_mileage, { km: past.mileage }) + " · ") +
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

  /* The channels the customer agreed to be told on, ticked at reception
     (the server records them with the time of the consent). */
  function consent() {
    return Array.prototype.filter.call(document.querySelectorAll("#notify-consent input[name=notify]"),
      function (box) { return box.checked; }).map(function (box) { return box.value; });
  }

  function orderBody() {
    var mileage = $("vehicle-mileage").value;
    var promised = $("promised-at").value;
    var body = {
      plate: $("plate").value,
      customer: {
        name: $("customer-name").value, phone: $("customer-phone").value,
        email: $("customer-email").value.trim(), notify: consent(),
        language: $("customer-language").value
      },
      vehicle: { model: $("vehicle-model").value, vin: $("vehicle-vin").value,
        mileage: mileage === "" ? null : parseInt(mileage, 10) },
      complaint: $("complaint").value,
      items: items(),
      waiting: $("waiting-yes").checked,
      wash: $("wash").checked,
      priority: $("vip").checked ? "vip" : "normal"
    };
    // Read on the shop's clock (the page names its zone), not the desk PC's.
    if (promised) body.promised_at = B.shopIso(promised);
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

  /* The list is redrawn from the orders on every change in the shop; what
     the advisor has open on an order (a form half filled, a signature half
     drawn) is kept across redraws, and an order's card is rebuilt only when
     the order or something open on it changed. */
  var notes = {};             // order id -> what the last action on it said
  var panels = {};            // "kind:order[:item]" -> a form or pad kept across redraws
  var signed = {};            // "order:quote" -> the signature's URL, from the upload's answer
  var cards = {};             // order id -> {stamp, node}
  var touched = {};           // order id -> how often its local state changed

  function touch(orderId) { touched[orderId] = (touched[orderId] || 0) + 1; }

  function note(orderId, message) {
    notes[orderId] = message || "";
    touch(orderId);
    renderOrders();
  }

  /* An answer's order (a command answers with it, or with {…, order}; a
     refusal carries the current one): the desk redraws from it. */
  function adopt(data) {
    var order = data && data.order ? data.order : data;
    if (!order || typeof order.id !== "number" || !order.stage) return;
    var known = orders[order.id];
    if (known && known.version > order.version) return;
    orders[order.id] = order;
  }

  /* A refusal in words: a quote that changed or expired meanwhile says so
     plainly; anything else is the server's own detail. */
  function refusal(reply, quote) {
    var code = reply.data && reply.data.code;
    if (code === "stale_version" && quote) {
      var now = orders[quote.orderId] && findQuote(orders[quote.orderId], quote.id);
      return fill(text.stale_quote, { version: now ? now.version : (reply.data.quote_version || "?") });
    }
    if (code === "quote_expired") return text.expired_quote;
    return problem(reply);
  }

  function findQuote(order, quoteId) {
    var found = null;
    (order.quotes || []).forEach(function (q) { if (q.id === quoteId) found = q; });
    return found;
  }

  function closePanel(key, orderId) {
    delete panels[key];
    touch(orderId);
    renderOrders();
  }

  function openPanel(key, orderId, make) {
    if (!panels[key]) panels[key] = make();
    touch(orderId);
    renderOrders();
    var field = panels[key] && panels[key].querySelector("input, textarea");
    if (field) field.focus();
  }

  function button(label, className, onClick) {
    var node = el("button", className, label);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  function field(labelText, input) {
    var label = el("label", "field");
    label.appendChild(el("span", "", labelText));
    label.appendChild(input);
    return label;
  }

  function input(type, className, value) {
    var node = el("input", className);
    node.type = type;
    if (value !== undefined && value !== null) node.value = String(value);
    return node;
  }

  /* A panel form's buttons: submit (returned) and cancel, which closes the panel. */
  function formButtons(form, label, key, orderId) {
    var submit = el("button", "primary", label);
    submit.type = "submit";
    var buttons = el("div", "form-buttons");
    buttons.appendChild(submit);
    buttons.appendChild(button(text.cancel, "cancel", function () { closePanel(key, orderId); }));
    form.appendChild(buttons);
    return submit;
  }

  function money(cents) { return "¥" + (cents / 100).toFixed(2); }

  /* ----- pause reasons */

  /* One open reason in words: parts (and when they are expected), the
     customer's OK, or the note of another reason. */
  function reasonText(r) {
    if (r.reason === "parts") {
      return r.expected_at ? fill(text.parts_due, { time: B.when(r.expected_at) }) : text.pause.parts;
    }
    if (r.reason === "other") return r.note || text.pause.other;
    return text.pause[r.reason] || r.reason;
  }

  /* ----- parts requests */

  function patchPart(order, part, body, key, form) {
    var submit = form ? form.querySelector("button[type=submit]") : null;
    if (submit) submit.disabled = true;
    request("PATCH", "/api/v1/orders/" + order.id + "/parts/" + part.id, body, key).then(function (reply) {
      if (submit) submit.disabled = false;
      adopt(reply.data);
      if (reply.status === 200) {
        delete panels["eta:" + order.id + ":" + part.id];
        note(order.id, "");
      } else {
        note(order.id, refusal(reply));
      }
    }, function () {
      if (submit) submit.disabled = false;
      note(order.id, fill(text.error, { detail: "network" }));
    });
  }

  /* "Ordered": the parts counter's expected arrival, on the shop's clock. */
  function etaForm(order, part) {
    var key = "eta:" + order.id + ":" + part.id;
    var form = el("form", "panel eta-form");
    var at = input("datetime-local", "eta-input",
      B.wallValue(part.eta ? Date.parse(part.eta) : Date.now() + 2 * 3600000));
    at.required = true;
    form.appendChild(field(text.eta_label, at));
    formButtons(form, text.save, key, order.id);
    var sent = null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var eta = B.shopIso(at.value);
      if (!eta) { note(order.id, text.eta_missing); return; }
      var body = { status: "ordered", eta: eta };
      var again = JSON.stringify(body);
      if (!sent || sent.body !== again) sent = { body: again, key: newKey() };
      patchPart(order, part, body, sent.key, form);
    });
    return form;
  }

  function partLine(order, part) {
    var li = el("li", "part part-" + part.status);
    li.setAttribute("data-part-id", String(part.id));
    li.setAttribute("data-status", part.status);
    li.appendChild(el("span", "part-description", part.description));
    li.appendChild(el("span", "part-status", (text.part_status || {})[part.status] || part.status));
    var time = "";
    if (part.status === "arrived" && part.arrived_at) time = fill(text.part_arrived_at, { time: B.when(part.arrived_at) });
    else if (part.eta) time = fill(text.part_eta, { time: B.when(part.eta) });
    else if (part.requested_at) time = fill(text.part_requested_at, { time: B.when(part.requested_at) });
    if (time) li.appendChild(el("span", "part-time", time));
    if (part.status !== "arrived") {
      var actions = el("span", "part-actions");
      actions.appendChild(button(part.status === "ordered" ? text.change_eta : text.mark_ordered, "mark-ordered",
        function () { openPanel("eta:" + order.id + ":" + part.id, order.id, function () { return etaForm(order, part); }); }));
      actions.appendChild(button(text.mark_arrived, "mark-arrived", function (event) {
        event.target.disabled = true;
        patchPart(order, part, { status: "arrived" });
      }));
      li.appendChild(actions);
      var open = panels["eta:" + order.id + ":" + part.id];
      if (open) li.appendChild(open);
    }
    return li;
  }

  function partsBlock(order) {
    var box = el("div", "parts");
    box.appendChild(el("h3", "", text.parts_title));
    var list = el("ul", "parts-list");
    order.parts.forEach(function (part) { list.appendChild(partLine(order, part)); });
    box.appendChild(list);
    return box;
  }

  /* ----- quotes */

  /* Expired: the shop's timer marks it within 30 s; a pending quote past
     its time is not offered for a decision meanwhile. */
  function expired(q) {
    return q.status === "expired" ||
      (q.status === "pending" && !!q.expires_at && Date.parse(q.expires_at) <= Date.now());
  }

  function sameWork(a, b) {
    return String(a.description || "").replace(/\s+/g, " ").trim() ===
      String(b.description || "").replace(/\s+/g, " ").trim();
  }

  /* Expired quotes nobody quoted again (no later quote for the same work):
     the advisor must call the customer. */
  function unanswered(order) {
    var quotes = order.quotes || [];
    return quotes.filter(function (q) {
      if (!expired(q)) return false;
      return !quotes.some(function (later) { return later.id > q.id && sameWork(later, q); });
    });
  }

  function pendingQuotes(order) {
    return (order.quotes || []).filter(function (q) { return q.status === "pending" && !expired(q); });
  }

  function decide(order, quote, approved, channel, clicked) {
    clicked.disabled = true;
    var target = { orderId: order.id, id: quote.id };
    request("POST", "/api/v1/orders/" + order.id + "/extra-work/" + quote.id + "/decision",
      { approved: approved, quote_version: quote.version, channel: channel }).then(function (reply) {
      adopt(reply.data);
      if (reply.status === 200) {
        if (approved && channel === "in_person") {
          // The customer is at the desk: their signature for what they approved.
          panels["sign:" + order.id + ":" + quote.id] = signaturePanel(order, quote);
        }
        note(order.id, "");
      } else {
        clicked.disabled = false;
        note(order.id, refusal(reply, target));
      }
    }, function () {
      clicked.disabled = false;
      note(order.id, fill(text.error, { detail: "network" }));
    });
  }

  /* A form for the terms of a quote: a revision (PUT, naming the version it
     changes) or a new quote for an expired one's work (POST). */
  function termsForm(order, quote, again) {
    var key = (again ? "requote:" : "revise:") + order.id + ":" + quote.id;
    var form = el("form", "panel quote-form " + (again ? "requote-form" : "revise-form"));
    var description = el("textarea", "quote-description");
    description.rows = 2;
    description.maxLength = 500;
    description.required = true;
    description.value = quote.description;
    // Quoting an expired offer again is the same work: only its terms change.
    description.readOnly = !!again;
    var hours = input("number", "quote-hours", quote.labour_hours);
    hours.min = "0.1";
    hours.max = "200";
    hours.step = "0.1";
    hours.required = true;
    var price = input("number", "quote-price", (quote.price_cents / 100).toFixed(2));
    price.min = "0";
    price.step = "0.01";
    price.required = true;
    form.appendChild(field(text.quote_description, description));
    var row = el("div", "terms");
    row.appendChild(field(text.quote_hours, hours));
    row.appendChild(field(text.quote_price, price));
    form.appendChild(row);
    var send = formButtons(form, again ? text.send_quote : text.send_revision, key, order.id);
    var sent = null;
    // The version this revision changes: the one shown when the form opened,
    // or, after a "changed meanwhile" refusal, the one shown since.
    var base = quote.version;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var current = orders[order.id] || order;
      var body = {
        description: description.value,
        labour_hours: parseFloat(hours.value),
        price_cents: Math.round(parseFloat(price.value) * 100)
      };
      var method = "POST";
      var path = "/api/v1/orders/" + order.id + "/extra-work";
      if (again) {
        body.version = current.version;
      } else {
        method = "PUT";
        path += "/" + quote.id;
        body.quote_version = base;
      }
      var same = JSON.stringify(body);
      if (!sent || sent.body !== same) sent = { body: same, key: newKey() };
      send.disabled = true;
      request(method, path, body, sent.key).then(function (reply) {
        send.disabled = false;
        adopt(reply.data);
        if (reply.status === 200 || reply.status === 201) {
          delete panels[key];
          note(order.id, "");
        } else {
          if (reply.status >= 400 && reply.status < 500) sent = null;
          var now = orders[order.id] && findQuote(orders[order.id], quote.id);
          if (now && reply.data && reply.data.code === "stale_version") base = now.version;
          note(order.id, refusal(reply, { orderId: order.id, id: quote.id }));
        }
      }, function () {
        send.disabled = false;
        note(order.id, fill(text.error, { detail: "network" }));
      });
    });
    return form;
  }

  /* The customer signs what they approved at the desk (signature.js); the
     PNG goes to the quote's signature. */
  function signaturePanel(order, quote) {
    var key = "sign:" + order.id + ":" + quote.id;
    var box = el("div", "panel signature-panel");
    box.appendChild(el("p", "signature-title", text.signature_title + " · " + quote.description));
    var pad = B.signature.create({
      labels: {
        hint: text.signature_hint,
        clear: text.signature_clear,
        save: text.signature_save,
        empty: text.signature_empty,
        saving: text.signature_saving,
        failed: text.signature_failed
      },
      path: "/api/v1/orders/" + order.id + "/extra-work/" + quote.id + "/signature",
      onSaved: function (url) {
        signed[order.id + ":" + quote.id] = url;
        // A replaced signature keeps its address: show it afresh.
        delete signatureImages[url];
        delete panels[key];
        touch(order.id);
        renderOrders();
      }
    });
    box.appendChild(pad.element);
    box.appendChild(button(text.signature_later, "signature-later", function () { closePanel(key, order.id); }));
    return box;
  }

  var signatureImages = {};   // URL -> <img>, kept so a redraw does not fetch again
  function signatureOf(order, quote) {
    var url = quote.signature_url || signed[order.id + ":" + quote.id];
    if (!url) return null;
    if (!signatureImages[url]) {
      var img = el("img", "signature");
      img.src = url;
      img.alt = fill(text.signature_alt, { description: quote.description });
      signatureImages[url] = img;
    }
    return signatureImages[url];
  }

  function decisionRecord(q) {
    var values = {
      decision: (text.decisions || {})[q.status] || q.status,
      channel: (text.channels || {})[q.channel] || q.channel || "",
      version: q.decided_version || q.version,
      time: B.when(q.decided_at),
      by: q.taken_by || ""
    };
    return fill(q.taken_by ? text.decision_record : text.decision_record_customer, values);
  }

  function quoteBlock(order, q) {
    var state = expired(q) ? "expired" : q.status;
    var box = el("div", "quote quote-" + state);
    box.setAttribute("data-quote-id", String(q.id));
    box.setAttribute("data-quote-version", String(q.version));
    box.setAttribute("data-status", state);
    var line = el("div", "quote-line");
    line.appendChild(el("span", "quote-terms", fill(text.quote_terms, {
      description: q.description, hours: q.labour_hours, price: money(q.price_cents)
    })));
    line.appendChild(el("span", "quote-version", fill(text.quote_version, { version: q.version })));
    if (state === "pending" && q.expires_at) {
      line.appendChild(el("span", "quote-expires", fill(text.quote_expires, { time: B.when(q.expires_at) })));
    }
    if (state === "expired") line.appendChild(el("span", "quote-expired-tag", text.quote_expired));
    box.appendChild(line);
    var photo = photoOf(order, q);
    if (photo) box.appendChild(photo);
    if (state === "pending") {
      var choices = el("div", "quote-actions");
      choices.appendChild(button(text.revise, "revise", function () {
        openPanel("revise:" + order.id + ":" + q.id, order.id, function () { return termsForm(order, q, false); });
      }));
      // The customer's answer as the advisor takes it: on the phone, or at
      // the desk in person (an approval there is signed on the pad).
      [["phone", text.by_phone, "phone"], ["in_person", text.in_person, "in-person"]].forEach(function (channel) {
        var group = el("span", "decide-group decide-" + channel[2]);
        group.appendChild(el("span", "channel-label", channel[1]));
        [[true, "approve"], [false, "decline"]].forEach(function (choice) {
          var label = text.decisions[choice[0] ? "approved" : "declined"];
          group.appendChild(button(label, choice[1] + "-" + channel[2] + " " + choice[1], function (event) {
            decide(order, q, choice[0], channel[0], event.target);
          }));
        });
        choices.appendChild(group);
      });
      box.appendChild(choices);
      var revising = panels["revise:" + order.id + ":" + q.id];
      if (revising) box.appendChild(revising);
    } else if (state === "approved" || state === "declined") {
      box.appendChild(el("p", "decision-record", decisionRecord(q)));
      var signature = signatureOf(order, q);
      if (signature) box.appendChild(signature);
      var signing = panels["sign:" + order.id + ":" + q.id];
      if (signing) {
        box.appendChild(signing);
      } else if (!signature && state === "approved" && q.channel === "in_person") {
        box.appendChild(button(text.signature_sign, "sign", function () {
          openPanel("sign:" + order.id + ":" + q.id, order.id, function () { return signaturePanel(order, q); });
        }));
      }
    }
    return box;
  }

  /* One banner per expired quote nobody quoted again, with the form to
     quote the same work again. */
  function expiredBanners(order, li) {
    unanswered(order).forEach(function (q) {
      var banner = el("div", "alert expired-quote");
      banner.setAttribute("role", "alert");
      banner.setAttribute("data-quote-id", String(q.id));
      banner.appendChild(el("span", "alert-text", fill(text.quote_expired_banner, { description: q.description })));
      var key = "requote:" + order.id + ":" + q.id;
      if (!panels[key]) {
        banner.appendChild(button(text.quote_again, "quote-again", function () {
          openPanel(key, order.id, function () { return termsForm(order, q, true); });
        }));
      }
      li.appendChild(banner);
      if (panels[key]) li.appendChild(panels[key]);
    });
  }

  /* ----- honest time: the promise (承诺交车), the estimate (预计完工), and
     the delay alert when the engine says the promise is at risk */

  /* The last change of the promise: why, who, when (the row shows the
     promise and the estimate themselves). */
  function promiseChangeLine(order) {
    var change = order.promise_change;
    return el("p", "times promise-change", fill(text.promise_changed, {
      reason: change.reason, by: change.by, time: B.when(change.at)
    }));
  }

  function delayAlert(order, li) {
    if (!order.risk) return;
    var banner = el("div", "alert delay-alert risk-" + order.risk);
    banner.setAttribute("role", "alert");
    banner.appendChild(el("span", "alert-text", fill(order.risk === "late" ? text.delay_late : text.delay_at_risk, {
      eta: B.when(order.eta, "—"),
      promised: B.when(order.promised_at, "—"),
      cause: text.causes[order.risk_cause] || text.causes.queue
    })));
    var key = "promise:" + order.id;
    if (!panels[key]) {
      banner.appendChild(button(text.new_promise, "new-promise", function () {
        openPanel(key, order.id, function () { return promiseForm(order); });
      }));
    }
    li.appendChild(banner);
    if (panels[key]) li.appendChild(panels[key]);
  }

  /* A new promised time: the estimate rounded up to the quarter hour, on
     the shop's clock, and the reason the customer will read. */
  function promiseForm(order) {
    var key = "promise:" + order.id;
    var form = el("form", "panel promise-form");
    var from = order.eta ? Date.parse(order.eta) : Date.now() + 3600000;
    var at = input("datetime-local", "promise-input", B.wallValue(Math.ceil(from / 900000) * 900000));
    at.required = true;
    var why = input("text", "promise-reason", text.causes_said[order.risk_cause] || "");
    why.maxLength = 200;
    why.required = true;
    form.appendChild(field(text.new_promise_label, at));
    form.appendChild(field(text.promise_reason_label, why));
    var submit = formButtons(form, text.save, key, order.id);
    var sent = null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var when = B.shopIso(at.value);
      if (!when || !why.value.trim()) { note(order.id, text.promise_missing); return; }
      var body = { promised_at: when, reason: why.value.trim(), version: orders[order.id].version };
      var again = JSON.stringify([when, body.reason]);
      if (!sent || sent.body !== again) sent = { body: again, key: newKey() };
      submit.disabled = true;
      request("PUT", "/api/v1/orders/" + order.id + "/promise", body, sent.key).then(function (reply) {
        submit.disabled = false;
        adopt(reply.data);
        if (reply.status === 200) {
          delete panels[key];
          note(order.id, "");
        } else {
          sent = null;
          note(order.id, refusal(reply));
        }
      }, function () {
        submit.disabled = false;
        note(order.id, fill(text.error, { detail: "network" }));
      });
    });
    return form;
  }

  /* ----- comebacks (返修): a car whose plate was delivered within the
     shop's comeback_days shows that visit under its plate ("Last visit
     11/2 (#12) · Mark as comeback"); the advisor marks it a comeback of that
     visit, naming the fault, and the mark shows in its place. The mark is in
     the order's log, not its view: /desk/api/comebacks is read when a car
     arrives and when an order with a visit or a mark changes. */

  var comebacks = {};         // order id -> {version, comeback, candidates}
  var comebackTimer = null;

  function loadComebacks() {
    return request("GET", "/desk/api/comebacks").then(function (reply) {
      if (reply.status !== 200) return;
      var fresh = reply.data.orders || {};
      Object.keys(comebacks).concat(Object.keys(fresh)).forEach(function (id) { touch(id); });
      comebacks = fresh;
      renderOrders();
    });
  }

  function askComebacks() {
    if (comebackTimer) clearTimeout(comebackTimer);
    comebackTimer = setTimeout(function () { comebackTimer = null; loadComebacks(); }, 400);
  }

  /* A car new to the desk may have had earlier visits; an order with a
     visit or a mark that changed may have been marked elsewhere. */
  function comebacksChanged(order, known) {
    var info = comebacks[order.id];
    if (!known) return activeStages().indexOf(order.stage) >= 0;
    return !!info && order.version > info.version;
  }

  function visitDay(iso) {
    var p = String(iso || "").split("-");
    return p.length === 3 ? fill(text.day_mark, { month: Number(p[1]), day: Number(p[2]) }) : "";
  }

  function comebackLine(order) {
    var info = comebacks[order.id];
    if (!info) return null;
    var mark = info.comeback;
    if (mark) {
      var flag = el("span", "comeback-mark");
      flag.appendChild(el("span", "comeback-glyph", "↺"));
      flag.querySelector(".comeback-glyph").setAttribute("aria-hidden", "true");
      flag.appendChild(document.createTextNode(fill(text.comeback_mark, {
        day: visitDay(mark.of_business_day), number: mark.of_number
      })));
      return flag;
    }
    var last = info.candidates && info.candidates[0];
    if (!last) return null;
    var hint = el("span", "comeback-hint");
    hint.appendChild(document.createTextNode(fill(text.comeback_last_visit, {
      day: visitDay(last.business_day), number: last.number
    }) + " · "));
    var key = "comeback:" + order.id;
    var open = button(text.comeback_flag, "link comeback-flag", function () {
      opened[order.id] = true;
      openPanel(key, order.id, function () { return comebackForm(orders[order.id] || order); });
    });
    hint.appendChild(open);
    return hint;
  }

  /* Mark the order a comeback: which earlier visit (the latest first) and
     the fault, in the advisor's words. */
  function comebackForm(order) {
    var key = "comeback:" + order.id;
    var info = comebacks[order.id] || { candidates: [] };
    var form = el("form", "panel comeback-form");
    var which = el("select", "comeback-of");
    info.candidates.forEach(function (c) {
      var option = el("option", "", fill(text.comeback_candidate, {
        day: visitDay(c.business_day), number: c.number,
        work: c.items.filter(function (t) { return !!t; }).join(text.name_separator) || c.complaint || "—"
      }));
      option.value = String(c.order_id);
      which.appendChild(option);
    });
    form.appendChild(field(text.comeback_of, which));
    var fault = el("textarea", "comeback-note");
    fault.rows = 2;
    fault.maxLength = 500;
    fault.required = true;
    form.appendChild(field(text.comeback_note, fault));
    var submit = formButtons(form, text.comeback_save, key, order.id);
    var sent = null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!fault.value.trim()) { note(order.id, text.comeback_needs_note); return; }
      var body = {
        of_order_id: Number(which.value), note: fault.value.trim(), version: orders[order.id].version
      };
      var again = JSON.stringify(body);
      if (!sent || sent.body !== again) sent = { body: again, key: newKey() };
      submit.disabled = true;
      request("POST", "/api/v1/orders/" + order.id + "/comeback", body, sent.key).then(function (reply) {
        submit.disabled = false;
        adopt(reply.data);
        if (reply.status === 200) {
          delete panels[key];
          comebacks[order.id] = { version: reply.data.order.version, comeback: reply.data.comeback, candidates: [] };
          note(order.id, text.comeback_saved);
        } else {
          sent = null;
          if (reply.data && reply.data.code === "already_flagged") askComebacks();
          note(order.id, refusal(reply));
        }
      }, function () {
        submit.disabled = false;
        note(order.id, fill(text.error, { detail: "network" }));
      });
    });
    return form;
  }

  /* The mark in the details: of which visit, how long after its delivery,
     the fault; and its withdrawal (with the reason) when it was a mistake. */
  function comebackDetails(order, box) {
    var info = comebacks[order.id];
    var mark = info && info.comeback;
    var key = "comeback:" + order.id;
    if (!mark) {
      if (panels[key]) box.appendChild(panels[key]);
      return;
    }
    var line = el("div", "comeback-details");
    line.appendChild(el("p", "comeback-text", fill(text.comeback_mark_detail, {
      day: visitDay(mark.of_business_day), number: mark.of_number, days: mark.days, note: mark.note
    })));
    var withdraw = "uncomeback:" + order.id;
    if (!panels[withdraw]) {
      line.appendChild(button(text.comeback_withdraw, "comeback-withdraw", function () {
        openPanel(withdraw, order.id, function () { return withdrawForm(orders[order.id] || order); });
      }));
    }
    box.appendChild(line);
    if (panels[withdraw]) box.appendChild(panels[withdraw]);
  }

  function withdrawForm(order) {
    var key = "uncomeback:" + order.id;
    var form = el("form", "panel comeback-withdraw-form");
    var why = input("text", "comeback-reason");
    why.maxLength = 500;
    why.required = true;
    form.appendChild(field(text.comeback_withdraw_reason, why));
    var submit = formButtons(form, text.comeback_withdraw_save, key, order.id);
    var sent = null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!why.value.trim()) { note(order.id, text.comeback_needs_reason); return; }
      var body = { reason: why.value.trim(), version: orders[order.id].version };
      var again = JSON.stringify(body);
      if (!sent || sent.body !== again) sent = { body: again, key: newKey() };
      submit.disabled = true;
      request("POST", "/api/v1/orders/" + order.id + "/comeback/withdrawal", body, sent.key).then(function (reply) {
        submit.disabled = false;
        adopt(reply.data);
        if (reply.status === 200) {
          delete panels[key];
          note(order.id, text.comeback_withdrawn);
          loadComebacks();
        } else {
          sent = null;
          note(order.id, refusal(reply));
        }
      }, function () {
        submit.disabled = false;
        note(order.id, fill(text.error, { detail: "network" }));
      });
    });
    return form;
  }

  /* ----- the customer's messages (issue 17): each with its channel, kind
     and status (and why one was not sent), read when the order's details
     open, again when the order changes, and every half minute while they
     stay open (the sender changes a message without changing the order);
     a one-off message from the advisor; failures as an alert at the top. */

  var messages = {};          // order id -> its messages, oldest first
  var messagesAsked = {};     // order id -> the order version last asked about
  var oneOffForms = {};       // order id -> its one-off form, kept across redraws

  function consented(order) {
    return ((order.customer || {}).notify || []).length > 0;
  }

  function loadMessages(orderId) {
    return request("GET", "/api/v1/orders/" + orderId + "/notifications").then(function (reply) {
      if (reply.status !== 200) return;
      var fresh = reply.data.notifications || [];
      if (JSON.stringify(fresh) === JSON.stringify(messages[orderId] || null)) return;
      messages[orderId] = fresh;
      touch(orderId);
      renderOrders();
    });
  }

  function askMessages(order) {
    if (!consented(order) && !messages[order.id]) return;
    if (messagesAsked[order.id] === order.version) return;
    messagesAsked[order.id] = order.version;
    loadMessages(order.id);
  }

  /* A reason the server names by code in words; a provider's own as it came. */
  function notifyReason(reason) {
    return reason ? (text.notify_reasons[reason] || reason) : text.notify_failed_unknown;
  }

  function messageItem(m) {
    var li = el("li", "notification notification-" + m.status);
    li.setAttribute("data-notification-id", String(m.id));
    li.setAttribute("data-status", m.status);
    li.setAttribute("data-kind", m.kind);
    var waits = m.status === "queued" && m.not_before && Date.parse(m.not_before) > Date.now();
    li.appendChild(el("span", "notification-line", fill(text.notify_line, {
      channel: text.notify_channels[m.channel] || m.channel,
      kind: text.notify_kinds[m.kind] || m.kind,
      status: text.notify_statuses[m.status] || m.status,
      time: waits ? fill(text.notify_waits, { time: B.when(m.not_before) }) : B.when(m.at)
    })));
    if (m.status === "failed" || m.status === "suppressed") {
      li.appendChild(el("span", "notification-reason",
        " " + fill(text.notify_reason, { reason: notifyReason(m.reason) })));
    }
    if (m.text) li.appendChild(el("q", "notification-text", m.text));
    return li;
  }

  /* The one-off: the advisor's words on the channels the customer agreed
     to (all ticked: the server takes those it can reach the customer on). */
  function oneOffForm(order) {
    var form = el("form", "panel one-off-form");
    var words = el("textarea", "one-off-text");
    words.rows = 2;
    words.maxLength = 500;
    words.required = true;
    form.appendChild(field(text.notify_text, words));
    var channels = el("div", "one-off-channels");
    ((order.customer || {}).notify || []).forEach(function (channel) {
      var label = el("label", "check");
      var box = input("checkbox", "one-off-channel");
      box.value = channel;
      box.checked = true;
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + (text.notify_channels[channel] || channel)));
      channels.appendChild(label);
    });
    form.appendChild(channels);
    form.appendChild(el("p", "hint", text.notify_hint));
    var submit = el("button", "primary one-off-send", text.notify_send);
    submit.type = "submit";
    form.appendChild(submit);
    var sent = null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var said = words.value.trim();
      if (!said) { note(order.id, text.notify_needs_text); words.focus(); return; }
      var boxes = Array.prototype.slice.call(form.querySelectorAll(".one-off-channel"));
      var chosen = boxes.filter(function (box) { return box.checked; }).map(function (box) { return box.value; });
      if (!chosen.length) { note(order.id, text.notify_needs_channel); return; }
      var body = { text: said };
      if (chosen.length < boxes.length) body.channels = chosen;
      var again = JSON.stringify(body);
      if (!sent || sent.body !== again) sent = { body: again, key: newKey() };
      submit.disabled = true;
      request("POST", "/api/v1/orders/" + order.id + "/notifications", body, sent.key).then(function (reply) {
        submit.disabled = false;
        if (reply.status === 201 || reply.status === 200) {
          sent = null;
          words.value = "";
          note(order.id, text.notify_sent);
          loadMessages(order.id);
        } else {
          // A refusal is bound to its key; a lost answer keeps it for the retry.
          if (reply.status >= 400 && reply.status < 500) sent = null;
          note(order.id, refusal(reply));
        }
      }, function () {
        submit.disabled = false;
        note(order.id, fill(text.error, { detail: "network" }));
      });
    });
    return form;
  }

  function messagesBlock(order) {
    var customer = order.customer || {};
    var list = messages[order.id];
    if (!consented(order) && !(list && list.length)) return null;
    var box = el("div", "notifications");
    box.appendChild(el("h3", "", text.notify_title));
    if (customer.opted_out) box.appendChild(el("p", "notify-state opted-out", text.notify_opted_out));
    if (list && list.length) {
      var ul = el("ul", "notification-list");
      list.forEach(function (m) { ul.appendChild(messageItem(m)); });
      box.appendChild(ul);
    } else if (list) {
      box.appendChild(el("p", "notify-state", text.notify_none));
    }
    if (consented(order) && !customer.opted_out) {
      if (!oneOffForms[order.id]) oneOffForms[order.id] = oneOffForm(order);
      box.appendChild(oneOffForms[order.id]);
      box.appendChild(optOutLine(order));
    }
    return box;
  }

  /* The customer tells the advisor they want no more messages: asked once
     more on the page, then recorded (queued messages are not sent). */
  var optOutAsked = {};       // order id -> the confirmation is showing
  var optOutKeys = {};        // order id -> Idempotency-Key until answered

  function optOutLine(order) {
    var line = el("div", "opt-out-line");
    if (!optOutAsked[order.id]) {
      line.appendChild(button(text.notify_opt_out, "opt-out", function () {
        optOutAsked[order.id] = true;
        touch(order.id);
        renderOrders();
      }));
      return line;
    }
    line.appendChild(el("span", "opt-out-confirm-text", text.notify_opt_out_confirm));
    line.appendChild(button(text.notify_opt_out_now, "danger opt-out-now", function (event) {
      event.target.disabled = true;
      optOutKeys[order.id] = optOutKeys[order.id] || newKey();
      request("POST", "/api/v1/orders/" + order.id + "/notifications/opt-out", {},
        optOutKeys[order.id]).then(function (reply) {
        event.target.disabled = false;
        if (reply.status >= 400 && reply.status < 500) delete optOutKeys[order.id];
        if (reply.status !== 200) { note(order.id, refusal(reply)); return; }
        delete optOutKeys[order.id];
        delete optOutAsked[order.id];
        adopt(reply.data);
        loadMessages(order.id);
        note(order.id, text.notify_opted_out_done);
      }, function () {
        event.target.disabled = false;
        note(order.id, fill(text.error, { detail: "network" }));
      });
    }));
    line.appendChild(button(text.cancel, "cancel", function () {
      delete optOutAsked[order.id];
      touch(order.id);
      renderOrders();
    }));
    return line;
  }

  /* The handover dialog lists the car's messages too (was the customer
     told it is ready?). */
  function handoverMessages(order) {
    var box = $("handover-messages");
    clear(box);
    box.hidden = true;
    if (!consented(order) && !messages[order.id]) return;
    request("GET", "/api/v1/orders/" + order.id + "/notifications").then(function (reply) {
      if (reply.status !== 200 || handoverFor !== order.id) return;
      var list = reply.data.notifications || [];
      clear(box);
      box.appendChild(el("h3", "", text.notify_title));
      if (!list.length) box.appendChild(el("p", "notify-state", text.notify_none));
      var ul = el("ul", "notification-list");
      list.forEach(function (m) { ul.appendChild(messageItem(m)); });
      box.appendChild(ul);
      box.hidden = false;
    });
  }

  /* Messages that failed in the last day: a banner at the top of the desk,
     one line each with the car and the reason, until dismissed here. */
  var failedShown = null;     // what the banner shows, to redraw only on a change
  var failedDismissed = {};   // message id -> dismissed at this desk

  function loadFailed() {
    return request("GET", "/api/v1/notifications/failed").then(function (reply) {
      if (reply.status === 200) renderFailed(reply.data.notifications || []);
    });
  }

  function showOrder(orderId) {
    if (!orders[orderId]) return;
    opened[orderId] = true;
    query = "";
    stageFilter = "";
    $("order-search").value = "";
    $("stage-filter").value = "";
    touch(orderId);
    renderOrders();
    var card = cards[orderId];
    if (card) {
      card.node.scrollIntoView({ block: "nearest" });
      var toggle = card.node.querySelector(".toggle-details");
      if (toggle) toggle.focus();
    }
  }

  function renderFailed(list) {
    var shown = list.filter(function (m) { return !failedDismissed[m.id]; });
    var stamp = JSON.stringify(shown);
    if (stamp === failedShown) return;
    failedShown = stamp;
    var ul = $("notify-failed");
    clear(ul);
    shown.forEach(function (m) {
      var li = el("li", "notify-failed-item");
      li.setAttribute("data-notification-id", String(m.id));
      if (m.order_id != null) {
        li.setAttribute("data-order-id", String(m.order_id));
        li.appendChild(el("span", "alert-text", fill(text.notify_failed, {
          number: m.number, plate: m.plate,
          channel: text.notify_channels[m.channel] || m.channel,
          kind: text.notify_kinds[m.kind] || m.kind,
          reason: notifyReason(m.reason)
        })));
      } else {
        /* No order (a reminder, a booking code): no queue number; the
           appointment's time and masked plate when it has them. */
        if (m.appointment_id != null) li.setAttribute("data-appointment-id", String(m.appointment_id));
        li.appendChild(el("span", "alert-text", fill(text.notify_line, {
          channel: text.notify_channels[m.channel] || m.channel,
          kind: text.notify_kinds[m.kind] || m.kind,
          status: text.notify_statuses.failed,
          time: B.when(m.start || m.at)
        }) + (m.plate ? " · " + m.plate : "") + " " + fill(text.notify_reason, {
          reason: notifyReason(m.reason)
        })));
      }
      if (m.order_id != null && orders[m.order_id]) {
        li.appendChild(button(text.notify_show, "notify-show", function () { showOrder(m.order_id); }));
      }
      li.appendChild(button(text.notify_dismiss, "notify-dismiss", function () {
        failedDismissed[m.id] = true;
        renderFailed(list);
      }));
      ul.appendChild(li);
    });
    $("notify-alerts").hidden = shown.length === 0;
  }

  /* The sender works on its own: read again what the advisor is looking at. */
  function refreshMessages() {
    loadFailed();
    Object.keys(opened).forEach(function (id) {
      var order = orders[id];
      if (opened[id] && order && (consented(order) || messages[id])) loadMessages(order.id);
    });
  }

  /* ----- the order: a new customer link, the handover (each in a dialog) */

  function dialogOf(id) { return $(id); }

  function openDialog(dialog) {
    if (dialog.open) return;
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
  }

  function closeDialog(dialog) {
    if (!dialog.open) return;
    if (typeof dialog.close === "function") dialog.close();
    else dialog.removeAttribute("open");
  }

  Array.prototype.forEach.call(document.querySelectorAll("dialog [data-close]"), function (node) {
    node.addEventListener("click", function () {
      var dialog = node.closest("dialog");
      if (dialog) closeDialog(dialog);
    });
  });

  /* A new customer link (the ticket lost or forwarded): the dialog says the
     old ticket and QR code stop working, asks why (recorded with the
     link's audit), and opens the new ticket to print. The print tab is
     opened by the click itself, so no pop-up blocker stops it; it is sent
     to the ticket once the server has issued the link, or closed when it
     refused. The dialog keeps a link to the ticket in case it did not open. */
  var linkFor = null;         // the order the link dialog is about
  var linkKey = null;         // kept until the server has answered

  function openLinkDialog(order) {
    linkFor = order.id;
    linkKey = null;
    $("link-title").textContent = fill(text.link_title, { number: order.number, plate: order.plate });
    $("link-reason").value = "";
    $("link-reason").removeAttribute("aria-invalid");
    show($("link-message"), "");
    $("link-buttons").hidden = false;
    $("link-done").hidden = true;
    $("link-confirm").disabled = false;
    openDialog(dialogOf("link-dialog"));
    $("link-reason").focus();
  }

  function issueLink(event) {
    event.preventDefault();
    var orderId = linkFor;
    if (orderId === null) return;
    var reason = $("link-reason").value.trim();
    if (!reason) {
      $("link-reason").setAttribute("aria-invalid", "true");
      show($("link-message"), text.link_reason_missing);
      $("link-reason").focus();
      return;
    }
    $("link-reason").removeAttribute("aria-invalid");
    var ticket = "/orders/" + orderId + "/ticket";
    var tab = window.open("", "_blank");
    linkKey = linkKey || newKey();
    $("link-confirm").disabled = true;
    request("POST", "/desk/api/orders/" + orderId + "/customer-link", { reason: reason }, linkKey).then(function (reply) {
      $("link-confirm").disabled = false;
      if (reply.status !== 200) {
        if (tab) tab.close();
        if (reply.status >= 400 && reply.status < 500) linkKey = null;
        show($("link-message"), problem(reply));
        return;
      }
      linkKey = null;
      if (tab) {
        tab.opener = null;
        tab.location.href = ticket;
      }
      show($("link-message"), "");
      $("link-buttons").hidden = true;
      $("link-done-text").textContent = text.link_done;
      $("link-print").href = ticket;
      $("link-print").textContent = text.link_print;
      $("link-done").hidden = false;
      note(orderId, text.link_done);
    }, function () {
      // No answer: the same key goes with a retry, so one new link at most.
      $("link-confirm").disabled = false;
      if (tab) tab.close();
      show($("link-message"), fill(text.error, { detail: "network" }));
    });
  }

  $("link-form").addEventListener("submit", issueLink);
  $("link-reason").addEventListener("input", function () { linkKey = null; });

  /* The handover of a ready car: its checklist in a dialog, one car at a
     time, opened from the car's row. What was typed stays while the dialog
     is reopened for the same car. */
  var handoverFor = null;     // the order the handover dialog is about
  var handoverKey = null;

  function openHandover(order) {
    var handover = $("handover-form");
    if (handoverFor !== order.id) {
      handover.reset();
      handoverKey = null;
      show($("handover-message"), "");
    }
    handoverFor = order.id;
    $("handover-title").textContent = fill(text.handover_title, { number: order.number, plate: order.plate });
    handoverMessages(order);
    openDialog(dialogOf("handover-dialog"));
    handover.elements.final_check_done.focus();
  }

  function submitHandover(event) {
    event.preventDefault();
    var handover = $("handover-form");
    var orderId = handoverFor;
    var order = orders[orderId];
    if (!order) { closeDialog(dialogOf("handover-dialog")); return; }
    var data = {
      version: order.version,
      final_check_done: handover.elements.final_check_done.checked,
      old_parts_shown: handover.elements.old_parts_shown.checked,
      next_service_date: handover.elements.next_service_date.value,
      next_service_mileage: parseInt(handover.elements.next_service_mileage.value, 10) || 0,
      note: handover.elements.note.value
    };
    handoverKey = handoverKey || newKey();
    var submit = handover.querySelector("button[type=submit]");
    submit.disabled = true;
    request("POST", "/desk/api/orders/" + orderId + "/handover", data, handoverKey).then(function (reply) {
      submit.disabled = false;
      if (reply.status === 200) {
        handoverKey = null;
        handoverFor = null;
        handover.reset();
        closeDialog(dialogOf("handover-dialog"));
        delete orders[orderId];
        renderOrders();
        loadFollowUps();
        return;
      }
      if (reply.status >= 400 && reply.status < 500) handoverKey = null;
      adopt(reply.data);
      show($("handover-message"), problem(reply));
    }, function () {
      submit.disabled = false;
      show($("handover-message"), fill(text.error, { detail: "network" }));
    });
  }

  $("handover-form").addEventListener("submit", submitHandover);
  $("handover-form").addEventListener("input", function () { handoverKey = null; });

  /* Which quotes of an order have a photo: asked when its pending quotes
     change and on the server's "photo" hint, so the desk never requests a
     missing one. */
  function loadPhotos(orderId) {
    request("GET", "/api/v1/orders/" + orderId + "/photos").then(function (reply) {
      if (reply.status !== 200) return;
      var found = {};
      reply.data.photos.forEach(function (p) { found[p.quote_id] = p.photo_url; });
      photos[orderId] = found;
      touch(orderId);
      renderOrders();
    });
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

  /* ----- the list of cars in the shop: one row each (number, plate, stage,
     bay, technician, promised time, estimate), searched by plate, filtered
     by stage or by "late or at risk", sorted by a column or, by default,
     late and at risk first. A car's details (what holds it, its parts and
     quotes, its links) open under its row on demand; a car that waits for
     the advisor (a customer's decision, an expired quote, parts to order)
     opens by itself the first time it does. */

  var bays = {};              // bay code -> the bay (the snapshot's: name, kind)
  var opened = {};            // order id -> details shown (true) or closed (false)
  var sortKey = "urgency";    // a column's data-sort, or "urgency"
  var sortDir = 1;            // 1 ascending, -1 descending
  var query = "";
  var stageFilter = "";

  function activeStages() {
    return B.page.stageGroups().active || [];
  }

  function plain(value) {
    return String(value || "").toUpperCase().replace(/[\s·.\-]/g, "");
  }

  function verdict(order) {
    return B.page.lateness(order, Date.now());
  }

  function needsAdvisor(order) {
    if (pendingQuotes(order).length || unanswered(order).length) return true;
    return (order.parts || []).some(function (part) { return part.status === "requested"; });
  }

  function isOpen(order) {
    if (opened[order.id] === undefined && needsAdvisor(order)) opened[order.id] = true;
    return !!opened[order.id];
  }

  /* Where the car stands now, as the board says it (shared/domain/bays.py
     `standing`): its own bay from dispatch to quality check, a wash bay of
     its own while washed; a car checked in, ready or being washed
     elsewhere stands on no bay, whatever bay its order still names. */
  function bayName(order) {
    if (!order.bay || !B.page.inGroup("in_bay", order.stage)) return "";
    var bay = bays[order.bay];
    if (order.stage === "washing" && !(bay && bay.kind === "wash")) return "";
    return (bay && bay.name) || order.bay;
  }

  function technicianNames(order) {
    return (order.technicians || []).map(function (t) { return t.name; })
      .filter(function (name) { return !!name; }).join(text.name_separator);
  }

  function time(iso) { return iso ? Date.parse(iso) : null; }

  function compareNullable(a, b) {
    if (a === b) return 0;
    if (a === null || a === "" || a === undefined) return 1;
    if (b === null || b === "" || b === undefined) return -1;
    if (typeof a === "string") return a.localeCompare(b);
    return a < b ? -1 : 1;
  }

  function byNumber(a, b) {
    return compareNullable(a.business_day, b.business_day) || a.number - b.number || a.id - b.id;
  }

  var columns = {
    number: byNumber,
    plate: function (a, b) { return compareNullable(a.plate, b.plate); },
    stage: function (a, b) {
      var order = activeStages();
      return order.indexOf(a.stage) - order.indexOf(b.stage);
    },
    bay: function (a, b) { return compareNullable(bayName(a), bayName(b)); },
    technician: function (a, b) { return compareNullable(technicianNames(a), technicianNames(b)); },
    promised: function (a, b) { return compareNullable(time(a.promised_at), time(b.promised_at)); },
    eta: function (a, b) { return compareNullable(etaShown(a), etaShown(b)); }
  };

  function urgency(order) {
    var v = verdict(order);
    return v.late ? 0 : v.atRisk ? 1 : 2;
  }

  function compare(a, b) {
    if (sortKey === "urgency") {
      return urgency(a) - urgency(b) ||
        compareNullable(time(a.promised_at), time(b.promised_at)) || byNumber(a, b);
    }
    // Missing values stay last whichever way the column runs.
    var found = columns[sortKey](a, b);
    var missingA = sortValue(a) === null;
    var missingB = sortValue(b) === null;
    if (missingA !== missingB) return missingA ? 1 : -1;
    return found * sortDir || byNumber(a, b);
  }

  function sortValue(order) {
    if (sortKey === "bay") return bayName(order) || null;
    if (sortKey === "technician") return technicianNames(order) || null;
    if (sortKey === "promised") return time(order.promised_at);
    if (sortKey === "eta") return etaShown(order);
    return 0;
  }

  /* The estimate shown: none for a car that is done (ready). */
  function etaShown(order) {
    return order.eta && order.stage !== "ready" ? time(order.eta) : null;
  }

  function matches(order) {
    if (stageFilter === "attention") {
      var v = verdict(order);
      if (!v.late && !v.atRisk) return false;
    } else if (stageFilter && order.stage !== stageFilter) {
      return false;
    }
    if (!query) return true;
    return plain(order.plate).indexOf(query) >= 0 || String(order.number) === query ||
      plain(order.customer && order.customer.name).indexOf(query) >= 0;
  }

  function cell(className, content) {
    var td = el("td", className);
    if (content !== undefined && content !== null) td.textContent = content;
    return td;
  }

  function stageCell(order) {
    var td = cell("stage-cell");
    td.appendChild(el("span", "stage", text.stages[order.stage] || order.stage));
    var reasons = order.pause_reasons || [];
    if (reasons.length) {
      td.appendChild(el("span", "stage-note", reasons.map(reasonText).join(" · ")));
    } else if (order.stage === "paused") {
      td.appendChild(el("span", "stage-note", text.no_holds));
    }
    return td;
  }

  /* The promise, and the verdict on it as a word with a mark (never colour
     alone): late, or at risk. */
  function promisedCell(order) {
    var td = cell("time promised");
    td.appendChild(el("span", "time-value", B.when(order.promised_at, "—")));
    var v = verdict(order);
    if (v.late || v.atRisk) {
      var flag = el("span", "flag " + (v.late ? "flag-late" : "flag-risk"));
      flag.appendChild(el("span", "flag-mark", v.late ? "!" : "?"));
      flag.appendChild(document.createTextNode(v.late ? text.late_flag : text.at_risk));
      flag.querySelector(".flag-mark").setAttribute("aria-hidden", "true");
      td.appendChild(flag);
    }
    return td;
  }

  function detailsId(order) { return "order-details-" + order.id; }

  function orderRow(order) {
    var tr = el("tr", "row");
    var number = cell("number", String(order.number));
    // A car carried over from an earlier day keeps that day's number and
    // wears the day (yesterday's 1 and today's 1 never read the same), as
    // on the board; "today" is the shop's calendar day, never the PC's.
    var day = order.business_day;
    if (day && day !== B.wallValue(Date.now()).slice(0, 10)) {
      var p = day.split("-");
      number.appendChild(el("span", "day-mark", fill(text.day_mark, { month: Number(p[1]), day: Number(p[2]) })));
    }
    tr.appendChild(number);
    var plate = cell("plate-cell");
    plate.appendChild(el("span", "plate", order.plate));
    var who = (order.customer && order.customer.name) || "";
    if (who) plate.appendChild(el("span", "customer", who));
    var comeback = comebackLine(order);
    if (comeback) plate.appendChild(comeback);
    tr.appendChild(plate);
    tr.appendChild(stageCell(order));
    tr.appendChild(cell("bay", bayName(order) || "—"));
    tr.appendChild(cell("tech", technicianNames(order) || "—"));
    tr.appendChild(promisedCell(order));
    tr.appendChild(cell("time eta", order.stage === "ready" ? "—" : B.when(order.eta, "—")));
    var actions = cell("row-actions");
    var shown = isOpen(order);
    var toggle = button("", "toggle-details", function () {
      opened[order.id] = !isOpen(orders[order.id] || order);
      touch(order.id);
      renderOrders();
      var again = cards[order.id] && cards[order.id].node.querySelector(".toggle-details");
      if (again) again.focus();
    });
    toggle.appendChild(el("span", "chevron", shown ? "▾" : "▸"));
    toggle.querySelector(".chevron").setAttribute("aria-hidden", "true");
    toggle.appendChild(document.createTextNode(text.details));
    toggle.setAttribute("aria-expanded", shown ? "true" : "false");
    toggle.setAttribute("aria-controls", detailsId(order));
    toggle.setAttribute("aria-label", fill(text.details_of, { number: order.number, plate: order.plate }));
    actions.appendChild(toggle);
    if (order.stage === "ready") {
      actions.appendChild(button(text.hand_over, "primary hand-over", function () {
        openHandover(orders[order.id] || order);
      }));
    }
    tr.appendChild(actions);
    return tr;
  }

  function detailsBody(order) {
    var box = el("div", "details-body");
    var facts = [];
    if (order.customer && order.customer.phone) facts.push(order.customer.phone);
    if (order.vehicle && order.vehicle.model) facts.push(order.vehicle.model);
    if (facts.length) box.appendChild(el("p", "facts", facts.join(" · ")));
    if (order.complaint) {
      box.appendChild(el("p", "complaint-words", fill(text.complaint_words, { words: order.complaint })));
    }
    if (order.promise_change) box.appendChild(promiseChangeLine(order));
    comebackDetails(order, box);
    delayAlert(order, box);
    var reasons = order.pause_reasons || [];
    if (reasons.length) {
      var holds = el("ul", "reasons");
      reasons.forEach(function (r) {
        var item = el("li", "reason reason-" + r.reason, reasonText(r));
        item.setAttribute("data-key", r.key);
        holds.appendChild(item);
      });
      box.appendChild(holds);
    } else if (order.stage === "paused") {
      // Nothing holds it any more (parts arrived, the customer decided): it
      // waits for a technician's resume tap, never restarting by itself.
      box.appendChild(el("p", "no-holds", text.no_holds));
    }
    expiredBanners(order, box);
    var actions = el("div", "actions");
    [["/orders/" + order.id + "/ticket", text.print_ticket],
      ["/orders/" + order.id + "/ticket?paper=80mm", text.print_thermal]].forEach(function (link) {
      var a = el("a", "", link[1]);
      a.href = link[0];
      a.target = "_blank";
      a.rel = "noopener";
      actions.appendChild(a);
    });
    actions.appendChild(button(text.new_link, "new-link", function () {
      openLinkDialog(orders[order.id] || order);
    }));
    box.appendChild(actions);
    if (notes[order.id]) {
      var message = el("p", "message order-message", notes[order.id]);
      message.setAttribute("role", "status");
      box.appendChild(message);
    }
    if (order.parts && order.parts.length) box.appendChild(partsBlock(order));
    askPhotos(order, false);
    (order.quotes || []).forEach(function (q) { box.appendChild(quoteBlock(order, q)); });
    askMessages(order);
    var told = messagesBlock(order);
    if (told) box.appendChild(told);
    return box;
  }

  function orderItem(order) {
    var v = verdict(order);
    var body = el("tbody", "order stage-" + order.stage + (v.late ? " late" : v.atRisk ? " at-risk" : ""));
    body.setAttribute("data-order-id", String(order.id));
    body.appendChild(orderRow(order));
    var open = isOpen(order);
    body.classList.toggle("open", open);
    if (open) {
      var details = el("tr", "details");
      details.id = detailsId(order);
      var td = el("td");
      td.colSpan = 8;
      td.appendChild(detailsBody(order));
      details.appendChild(td);
      body.appendChild(details);
    }
    return body;
  }

  /* What a card shows depends on the order, on what is open on it, on which
     of its quotes the clock has expired, on the verdict and the times as the
     clock reads them, and on the bays' names. */
  function stampOf(order) {
    var v = verdict(order);
    return order.version + ":" + (touched[order.id] || 0) + ":" +
      (order.quotes || []).map(function (q) { return expired(q) ? "x" : "o"; }).join("") + ":" +
      (v.late ? "L" : v.atRisk ? "R" : "") + ":" + B.when(order.promised_at) + ":" + B.when(order.eta) +
      ":" + bayName(order) + ":" + isOpen(order) + ":" + (comebacks[order.id] ? "c" : "");
  }

  function renderSortHeads() {
    Array.prototype.forEach.call(document.querySelectorAll("#orders thead th[data-sort]"), function (th) {
      var mine = th.getAttribute("data-sort") === sortKey;
      th.setAttribute("aria-sort", mine ? (sortDir > 0 ? "ascending" : "descending") : "none");
      var glyph = th.querySelector(".sort-glyph");
      if (!glyph) {
        glyph = el("span", "sort-glyph");
        glyph.setAttribute("aria-hidden", "true");
        th.querySelector("button").appendChild(glyph);
      }
      glyph.textContent = mine ? (sortDir > 0 ? " ▲" : " ▼") : "";
    });
    $("sort-urgent").setAttribute("aria-pressed", sortKey === "urgency" ? "true" : "false");
  }

  function renderOrders() {
    var table = $("orders");
    var focused = document.activeElement;
    var selection = null;
    if (focused && table.contains(focused)) {
      try { selection = [focused.selectionStart, focused.selectionEnd]; } catch (noSelection) { selection = null; }
    } else {
      focused = null;
    }
    var active = activeStages();
    var all = Object.keys(orders).map(function (id) { return orders[id]; })
      .filter(function (o) { return active.indexOf(o.stage) >= 0; });
    var shown = all.filter(matches).sort(compare);
    var keep = {};
    shown.forEach(function (o, index) {
      var stamp = stampOf(o);
      var card = cards[o.id];
      if (!card || card.stamp !== stamp) {
        card = { stamp: stamp, node: orderItem(o) };
        cards[o.id] = card;
      }
      keep[o.id] = true;
      var at = table.tBodies[index] || null;
      if (at !== card.node) table.insertBefore(card.node, at);
    });
    Array.prototype.slice.call(table.tBodies).forEach(function (body) {
      var id = body.getAttribute("data-order-id");
      if (!keep[id] || cards[id].node !== body) table.removeChild(body);
    });
    Object.keys(cards).forEach(function (id) { if (!keep[id]) delete cards[id]; });
    $("orders-count").textContent = fill(text.shown_count, { shown: shown.length, total: all.length });
    var empty = $("orders-empty");
    empty.textContent = all.length ? text.no_match : text.no_cars;
    empty.hidden = shown.length > 0;
    renderSortHeads();
    // A form that moved into its order's new card keeps the advisor's place.
    if (focused && document.activeElement !== focused && table.contains(focused)) {
      focused.focus();
      if (selection) {
        try { focused.setSelectionRange(selection[0], selection[1]); } catch (noSelection) { /* a number field */ }
      }
    }
  }

  function setUpListTools() {
    var select = $("stage-filter");
    activeStages().forEach(function (stage) {
      var option = el("option", "", text.stages[stage] || stage);
      option.value = stage;
      select.appendChild(option);
    });
    $("order-search").addEventListener("input", function () {
      query = plain($("order-search").value);
      renderOrders();
    });
    select.addEventListener("change", function () {
      stageFilter = select.value;
      renderOrders();
    });
    $("sort-urgent").addEventListener("click", function () {
      sortKey = "urgency";
      sortDir = 1;
      renderOrders();
    });
    Array.prototype.forEach.call(document.querySelectorAll("#orders thead th[data-sort]"), function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var key = th.getAttribute("data-sort");
        if (sortKey === key) sortDir = -sortDir;
        else { sortKey = key; sortDir = 1; }
        renderOrders();
      });
    });
  }

  /* ------------------------------------------------------------ follow-ups */
  /* The calls to make (回访): why, the score and the customer's own words,
     a labelled note, the outcome. "Complaint…" asks for its owner and opens
     a complaint that stays on the desk until resolved. */

  var owners = [];            // who may own a complaint: [{id, name, role}]
  var me = Number(($("desk") && $("desk").getAttribute("data-user-id")) || 0) || null;

  function ownerSelect(current, className) {
    var select = el("select", className);
    if (current === null || current === undefined) {
      var none = el("option", "", text.no_owner);
      none.value = "";
      select.appendChild(none);
    }
    owners.forEach(function (person) {
      var option = el("option", "", person.name);
      option.value = String(person.id);
      if (person.id === current) option.selected = true;
      select.appendChild(option);
    });
    return select;
  }

  function followUpItem(call) {
    var li = el("li", "call");
    li.setAttribute("data-order-id", String(call.id));
    var who = el("p", "who");
    who.appendChild(el("strong", "plate", call.plate));
    who.appendChild(document.createTextNode(" · " + call.customer.name + " · "));
    var phone = el("a", "phone", call.customer.phone);
    phone.href = "tel:" + call.customer.phone;
    who.appendChild(phone);
    li.appendChild(who);
    var why = call.reasons.map(function (r) { return text.reasons[r] || r; });
    if (call.delivered_on) why.push(fill(text.delivered_on, { day: call.delivered_on }));
    li.appendChild(el("p", "why", why.join(" · ")));
    if (call.survey_rating) {
      li.appendChild(el("p", "score", fill(text.rating, { rating: call.survey_rating })));
      if (call.survey_comment) {
        li.appendChild(el("blockquote", "comment", fill(text.survey_comment, { comment: call.survey_comment })));
      } else {
        li.appendChild(el("p", "comment none", text.no_survey_comment));
      }
    }
    if (call.declined.length) {
      li.appendChild(el("p", "declined", fill(text.declined_items, { items: call.declined.join(text.name_separator) })));
    }
    if (call.attempts && call.attempts.length) {
      li.appendChild(el("p", "attempts", fill(text.attempts, { count: call.attempts.length })));
    }
    var noteId = "call-note-" + call.id;
    var label = el("label", "field note-field", text.call_note);
    label.htmlFor = noteId;
    var note = el("textarea", "note");
    note.id = noteId;
    note.rows = 2;
    note.maxLength = 1000;
    li.appendChild(label);
    li.appendChild(note);
    var message = el("p", "message call-message");
    message.setAttribute("role", "status");
    message.hidden = true;
    note.addEventListener("input", function () {
      if (!note.hasAttribute("aria-invalid")) return;
      note.removeAttribute("aria-invalid");
      show(message, "");
    });
    var outcomes = el("div", "outcomes");
    var panel = el("div", "panel complaint-panel");
    panel.hidden = true;
    panel.id = "complaint-panel-" + call.id;

    function record(outcome, ownerId, clicked) {
      var body = { outcome: outcome, note: note.value };
      if (ownerId) body.owner_id = ownerId;
      clicked.disabled = true;
      request("POST", "/desk/api/orders/" + call.id + "/follow-ups", body).then(function (answer) {
        clicked.disabled = false;
        if (answer.status === 201) {
          loadFollowUps();
          if (outcome === "complaint") loadComplaints();
        } else {
          show(message, problem(answer));
        }
      }, function () {
        clicked.disabled = false;
        show(message, fill(text.error, { detail: "network" }));
      });
    }

    text.outcome_order.forEach(function (outcome) {
      var choice = button(text.outcomes[outcome], "outcome outcome-" + outcome, function (event) {
        if (outcome !== "complaint") { record(outcome, null, event.target); return; }
        panel.hidden = !panel.hidden;
        choice.setAttribute("aria-expanded", panel.hidden ? "false" : "true");
        if (!panel.hidden) panel.querySelector("select").focus();
      });
      if (outcome === "complaint") {
        choice.setAttribute("aria-expanded", "false");
        choice.setAttribute("aria-controls", panel.id);
      }
      outcomes.appendChild(choice);
    });
    li.appendChild(outcomes);

    panel.appendChild(el("p", "hint", text.complaint_hint));
    var owner = ownerSelect(me, "owner");
    panel.appendChild(field(text.complaint_owner, owner));
    panel.appendChild(button(text.open_complaint, "primary open-complaint", function (event) {
      if (!note.value.trim()) {
        show(message, text.complaint_needs_note);
        note.setAttribute("aria-invalid", "true");
        note.focus();
        return;
      }
      note.removeAttribute("aria-invalid");
      record("complaint", Number(owner.value) || null, event.target);
    }));
    li.appendChild(panel);
    li.appendChild(message);
    return li;
  }

  function loadFollowUps() {
    request("GET", "/desk/api/follow-ups").then(function (reply) {
      var list = $("follow-ups");
      if (reply.status !== 200) return;
      // A call being written keeps its note: only calls that left the list go.
      var kept = {};
      Array.prototype.forEach.call(list.querySelectorAll("li.call"), function (li) {
        kept[li.getAttribute("data-order-id")] = li;
      });
      clear(list);
      if (!reply.data.calls.length) { list.appendChild(el("li", "empty", text.no_follow_ups)); return; }
      reply.data.calls.forEach(function (call) {
        list.appendChild(kept[String(call.id)] || followUpItem(call));
      });
    });
  }

  /* ------------------------------------------------------------ complaints */
  /* Open complaints: the customer's words, the owner (handed on by the
     select), the outcome that resolves it. Each change names the version
     it saw; one made meanwhile at another desk is refused and the complaint
     shown as it is now. */

  var complaintCards = {};    // complaint id -> {version, node}
  var outcomeDrafts = {};     // complaint id -> the outcome being written

  function complaintMessage(message) {
    show($("complaints-message"), message);
  }

  function complaintItem(complaint) {
    var li = el("li", "complaint");
    li.setAttribute("data-complaint-id", String(complaint.id));
    li.setAttribute("data-version", String(complaint.version));
    li.appendChild(el("p", "head", fill(text.complaint_order, {
      number: complaint.number, day: complaint.business_day, plate: complaint.plate
    })));
    var who = el("p", "who");
    who.appendChild(document.createTextNode(complaint.customer.name + " · "));
    var phone = el("a", "phone", complaint.customer.phone);
    phone.href = "tel:" + complaint.customer.phone;
    who.appendChild(phone);
    li.appendChild(who);
    li.appendChild(el("blockquote", "words", fill(text.complaint_words, { words: complaint.description })));
    li.appendChild(el("p", "opened", fill(text.complaint_opened, {
      time: B.when(complaint.opened_at), by: complaint.opened_by
    })));
    var message = el("p", "message complaint-item-message");
    message.setAttribute("role", "status");
    message.hidden = true;

    function send(path, body, clicked, done) {
      clicked.disabled = true;
      request("POST", "/desk/api/complaints/" + complaint.id + "/" + path, body).then(function (reply) {
        clicked.disabled = false;
        if (reply.status === 200) { done(reply.data); return; }
        var code = reply.data && reply.data.code;
        if ((code === "stale_version" || code === "illegal_transition") && reply.data.complaint) {
          delete complaintCards[complaint.id];
          complaintMessage(code === "stale_version" ? text.complaint_stale : text.complaint_closed);
          loadComplaints();
          return;
        }
        show(message, problem(reply));
      }, function () {
        clicked.disabled = false;
        show(message, fill(text.error, { detail: "network" }));
      });
    }

    var ownerLine = el("div", "owner-line");
    var select = ownerSelect(complaint.owner ? complaint.owner.id : null, "owner");
    ownerLine.appendChild(field(text.complaint_owner, select));
    ownerLine.appendChild(button(text.change_owner, "change-owner", function (event) {
      var chosen = Number(select.value);
      if (!chosen) { select.focus(); return; }
      send("owner", { owner_id: chosen, version: complaint.version }, event.target, function () {
        complaintMessage(text.complaint_owner_changed);
        loadComplaints();
      });
    }));
    li.appendChild(ownerLine);

    var resolveForm = el("form", "resolve-form");
    var outcome = el("textarea", "outcome");
    outcome.rows = 2;
    outcome.maxLength = 2000;
    outcome.value = outcomeDrafts[complaint.id] || "";
    outcome.addEventListener("input", function () {
      outcomeDrafts[complaint.id] = outcome.value;
      if (outcome.hasAttribute("aria-invalid")) { outcome.removeAttribute("aria-invalid"); show(message, ""); }
    });
    resolveForm.appendChild(field(text.complaint_outcome, outcome));
    var resolveButton = el("button", "primary resolve", text.resolve);
    resolveButton.type = "submit";
    resolveForm.appendChild(resolveButton);
    resolveForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!outcome.value.trim()) {
        outcome.setAttribute("aria-invalid", "true");
        show(message, text.complaint_needs_outcome);
        outcome.focus();
        return;
      }
      outcome.removeAttribute("aria-invalid");
      send("resolution", { outcome: outcome.value, version: complaint.version }, resolveButton, function () {
        delete outcomeDrafts[complaint.id];
        complaintMessage(text.complaint_resolved);
        loadComplaints();
      });
    });
    li.appendChild(resolveForm);
    li.appendChild(message);
    return li;
  }

  function loadComplaints() {
    return request("GET", "/desk/api/complaints").then(function (reply) {
      if (reply.status !== 200) return;
      owners = reply.data.owners;
      var list = $("complaints");
      var listed = reply.data.complaints;
      var keep = {};
      clear(list);
      if (!listed.length) list.appendChild(el("li", "empty", text.no_complaints));
      listed.forEach(function (complaint) {
        var card = complaintCards[complaint.id];
        if (!card || card.version !== complaint.version) {
          card = { version: complaint.version, node: complaintItem(complaint) };
          complaintCards[complaint.id] = card;
        }
        keep[complaint.id] = true;
        list.appendChild(card.node);
      });
      Object.keys(complaintCards).forEach(function (id) { if (!keep[id]) delete complaintCards[id]; });
    });
  }

  /* ------------------------------------------------- customer data request */
  /* Export or erase a customer's data, found by plate and phone together.
     Plate and phone go in POST bodies only; the server answers a wrong phone
     exactly as an unknown plate. An erase is confirmed on the page first. */

  var privacyAsked = null;    // {plate, phone} of the orders shown
  var privacyFound = [];      // those orders (numbers, days, stages: no personal data)
  var eraseKey = null;        // kept until the server has answered the erase

  function privacyMessage(message, done) {
    var line = $("privacy-message");
    show(line, message);
    line.classList.toggle("done", !!done);
  }

  /* A refusal as the panel says it. A plate or phone the server cannot read
     is named by its field ("phone"), not a word for the reader: the field is
     marked and the panel's own sentence shown (a plate that cannot be one has
     no orders, said as for an unknown plate). Anything else as elsewhere. */
  function privacyRefusal(reply) {
    var field = reply.data && reply.data.field;
    if (field !== "plate" && field !== "phone") return problem(reply);
    var input = $("privacy-" + field);
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return field === "phone" ? text.privacy_bad_phone : text.privacy_none;
  }

  function privacyFields() {
    var plate = $("privacy-plate").value.trim();
    var phone = $("privacy-phone").value.trim();
    return plate && phone ? { plate: plate, phone: phone } : null;
  }

  function privacyForget() {
    privacyAsked = null;
    $("privacy-plate").removeAttribute("aria-invalid");
    $("privacy-phone").removeAttribute("aria-invalid");
    eraseKey = null;
    $("privacy-result").hidden = true;
    $("privacy-confirm").hidden = true;
  }

  function renderPrivacy(found) {
    privacyFound = found;
    var list = $("privacy-orders");
    clear(list);
    $("privacy-confirm").hidden = true;
    if (!found.length) {
      $("privacy-result").hidden = true;
      privacyMessage(text.privacy_none);
      return;
    }
    privacyMessage("");
    $("privacy-summary").textContent = fill(text.privacy_found, { count: found.length });
    found.forEach(function (order) {
      var li = el("li", "", fill(text.privacy_order, {
        number: order.number, day: order.business_day, stage: text.stages[order.stage] || order.stage
      }));
      if (!order.erasable) li.appendChild(el("span", "active-note", " · " + text.privacy_active));
      list.appendChild(li);
    });
    $("privacy-erase").disabled = !found.some(function (order) { return order.erasable; });
    $("privacy-result").hidden = false;
  }

  function findForPrivacy(event) {
    if (event) event.preventDefault();
    var asked = privacyFields();
    if (!asked) { privacyForget(); privacyMessage(text.privacy_missing); return; }
    request("POST", "/desk/api/privacy/orders", asked).then(function (reply) {
      if (reply.status !== 200) { privacyForget(); privacyMessage(privacyRefusal(reply)); return; }
      privacyAsked = asked;
      eraseKey = null;
      renderPrivacy(reply.data.orders);
    });
  }

  function exportForPrivacy() {
    if (!privacyAsked) return;
    request("POST", "/desk/api/privacy/export", privacyAsked).then(function (reply) {
      if (reply.status !== 200) { privacyMessage(privacyRefusal(reply)); return; }
      var name = "customer-data-" + String(reply.data.exported_at).slice(0, 10) + ".json";
      var file = new Blob([JSON.stringify(reply.data, null, 2)], { type: "application/json" });
      var link = el("a");
      link.href = URL.createObjectURL(file);
      link.download = name;
      document.body.appendChild(link);
      link.click();
      document.body.removeChild(link);
      setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
      privacyMessage(fill(text.privacy_exported, { file: name }), true);
    });
  }

  function askToErase() {
    if (!privacyAsked) return;
    var erasable = privacyFound.filter(function (order) { return order.erasable; }).length;
    $("privacy-confirm-text").textContent = fill(text.privacy_confirm, { count: erasable });
    $("privacy-confirm").hidden = false;
    $("privacy-erase-now").focus();
  }

  function eraseForPrivacy() {
    if (!privacyAsked) return;
    var asked = privacyAsked;
    eraseKey = eraseKey || newKey();
    $("privacy-erase-now").disabled = true;
    request("POST", "/desk/api/privacy/erase", asked, eraseKey).then(function (reply) {
      $("privacy-erase-now").disabled = false;
      eraseKey = null;
      $("privacy-confirm").hidden = true;
      if (reply.status === 409 && reply.data.code === "order_active") {
        privacyMessage(text.privacy_all_active);
        return;
      }
      if (reply.status !== 200) { privacyMessage(privacyRefusal(reply)); return; }
      var said = fill(text.privacy_erased, { count: reply.data.erased.length });
      if (reply.data.active.length) {
        said += " " + fill(text.privacy_erased_active, {
          numbers: reply.data.active.map(function (order) { return "#" + order.number; }).join(", ")
        });
      }
      renderPrivacy(reply.data.active);
      privacyMessage(said, true);
    }, function () {
      // No answer: the same key goes with a retry, so the erase runs once.
      $("privacy-erase-now").disabled = false;
    });
  }

  $("privacy-form").addEventListener("submit", findForPrivacy);
  $("privacy-form").addEventListener("input", privacyForget);
  $("privacy-export").addEventListener("click", exportForPrivacy);
  $("privacy-erase").addEventListener("click", askToErase);
  $("privacy-erase-now").addEventListener("click", eraseForPrivacy);
  $("privacy-cancel").addEventListener("click", function () { $("privacy-confirm").hidden = true; });

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
  setUpListTools();
  renderOrders();
  // The calls offer the complaint's owners: the list of them comes first.
  loadComplaints().then(loadFollowUps, loadFollowUps);
  // A customer waiting in the lounge goes ahead of drop-offs: ask again.
  $("waiting-yes").addEventListener("change", hoursChanged);
  $("waiting-no").addEventListener("change", hoursChanged);

  var live = B.connect({
    token: null,
    audienceSeesAll: true,
    onSnapshot: function (snapshot) {
      if (snapshot.shop) B.useTimeZone(snapshot.shop.timezone);
      bays = {};
      (snapshot.bays || []).forEach(function (bay) { bays[bay.code] = bay; });
      // Photos may have arrived while the desk was away: ask again.
      photosAsked = {};
      orders = {};
      snapshot.orders.forEach(function (o) { orders[o.id] = o; });
      renderOrders();
      loadComebacks();
      // Messages may have changed while the desk was away: ask again.
      messagesAsked = {};
      loadFailed();
      // Appointments may have changed while the desk was away: read again.
      if (B.deskAppointments) B.deskAppointments.resync();
    },
    onOrder: function (order, seq, old) {
      var known = orders[order.id];
      if (known && known.version > order.version) return;
      orders[order.id] = order;
      if (comebacksChanged(order, known)) askComebacks();
      renderOrders();
    }
  });
  // The appointments part (desk_appointments.js) hears on the same socket.
  if (B.deskAppointments) B.deskAppointments.start(live);
  // A pending quote's time runs out by the clock too, not only by messages.
  setInterval(renderOrders, 15000);
  setInterval(refreshMessages, 30000);
  // A customer's signature was stored (at this desk or another): the order
  // itself does not change, so its quotes are read again (signature_url).
  live.socket.on("signature", function (hint) {
    if (!hint || !orders[hint.order_id]) return;
    request("GET", "/api/v1/orders/" + hint.order_id).then(function (reply) {
      if (reply.status !== 200) return;
      var fresh = reply.data;
      delete fresh.history;
      (fresh.quotes || []).forEach(function (q) {
        // A replaced signature keeps its address: show it afresh.
        if (q.id === hint.quote_id && q.signature_url) delete signatureImages[q.signature_url];
      });
      adopt(fresh);
      touch(hint.order_id);
      renderOrders();
    });
  });
  // A bay renamed or added (shared/services/bay_admin.py): the list names it so.
  live.socket.on("bays", function (message) {
    if (!message || !message.bays) return;
    bays = {};
    message.bays.forEach(function (bay) { bays[bay.code] = bay; });
    renderOrders();
  });
  // An order's messages changed (a one-off or an opt-out, here or at another
  // desk, or the customer's own opt-out): read them again if shown.
  live.socket.on("notifications", function (hint) {
    if (!hint || !orders[hint.order_id]) return;
    if (messages[hint.order_id] || opened[hint.order_id]) loadMessages(hint.order_id);
  });
  // A complaint was opened, handed on or resolved (here or at another desk).
  live.socket.on("complaint", function () { loadComplaints(); });
  live.socket.on("photo", function (hint) {
    if (hint && orders[hint.order_id]) askPhotos(orders[hint.order_id], true);
  });
})(window.Baylight);
