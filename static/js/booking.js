/* The public booking page (/book/{shop}) and the customer's own appointment
   page (/a/{token}). Everything the server sends reaches the page through
   textContent only. Bookings and changes carry the page's CSRF token and a new
   Idempotency-Key (a retried tap is one booking); the link's token goes into
   API paths only, never as a referrer. Times are shown on the shop's clock. */
(function (B) {
  "use strict";
  var $ = B.page.byId;
  var el = B.page.el;
  var clear = B.page.clear;
  var show = B.page.show;
  var data = JSON.parse($("booking").textContent);
  var text = JSON.parse($("strings").textContent);

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (all, name) {
      return values[name] === undefined ? all : String(values[name]);
    });
  }

  var whenFormat = null;
  try {
    whenFormat = new Intl.DateTimeFormat(data.lang, {
      timeZone: data.timezone, weekday: "short", month: "numeric", day: "numeric",
      hour: "2-digit", minute: "2-digit", hour12: false
    });
  } catch (unknownZone) { whenFormat = null; }

  /* A start as the shop's clock says it, with its day: "11月30日周一 09:30". */
  function when(iso) {
    var moment = new Date(iso);
    return whenFormat ? whenFormat.format(moment) : moment.toString();
  }

  function refusal(reply) {
    if (reply.status === 429) return text.too_many;
    if (reply.data && (reply.data.detail || reply.data.title)) return B.page.problem(reply);
    return text.failed;
  }

  function post(path, body) {
    return B.page.request("POST", path, {
      body: body, csrf: true, key: B.page.newKey(), referrerPolicy: "no-referrer"
    });
  }

  function get(path) {
    return B.page.request("GET", path, { credentials: "same-origin", referrerPolicy: "no-referrer" });
  }

  /* The chosen day of a day picker (radio buttons named {prefix}day). */
  function chosenDay(prefix) {
    var picked = document.querySelector("input[name='" + prefix + "day']:checked");
    return picked ? picked.value : "";
  }

  /* Free starts as buttons in a radio group; onPick(start) when one is chosen. */
  function drawSlots(box, slots, onPick) {
    clear(box);
    slots.forEach(function (slot) {
      var button = el("button", "slot", slot.time);
      button.type = "button";
      button.setAttribute("role", "radio");
      button.setAttribute("aria-checked", "false");
      button.setAttribute("data-start", slot.start);
      button.addEventListener("click", function () {
        Array.prototype.forEach.call(box.querySelectorAll(".slot"), function (other) {
          other.setAttribute("aria-checked", other === button ? "true" : "false");
        });
        onPick(slot.start);
      });
      box.appendChild(button);
    });
  }

  function workLines(list, items) {
    clear(list);
    var labels = text.work_labels || {};
    (items || []).forEach(function (item) {
      var line = el("li");
      line.appendChild(el("span", "label", labels[item.title] || item.title));
      if (item.labour_hours !== undefined) {
        line.appendChild(el("span", "hours", fill(text.hours, { hours: item.labour_hours })));
      }
      list.appendChild(line);
    });
  }

  /* ------------------------------------------------------- /book/{shop} */
  function bookingPage() {
    var base = "/api/v1/book/" + encodeURIComponent(data.shop);
    var form = $("book-form");
    var slotsBox = $("slots");
    var note = $("slots-note");
    var message = $("book-message");
    var alternatives = $("alternatives");
    var start = null;
    var asked = 0;

    function work() {
      return Array.prototype.map.call(
        form.querySelectorAll("input[name=work]:checked"), function (box) { return box.value; });
    }

    function loadSlots() {
      start = null;
      clear(slotsBox);
      var chosen = work();
      if (!chosen.length) { show(note, text.choose_work); return; }
      var mine = ++asked;
      show(note, text.loading);
      get(base + "/slots?date=" + encodeURIComponent(chosenDay("book-")) +
          "&work=" + encodeURIComponent(chosen.join(","))).then(function (reply) {
        if (mine !== asked) return;
        if (reply.status !== 200) { show(note, refusal(reply)); return; }
        var slots = reply.data.slots || [];
        show(note, slots.length ? "" : text.no_slots);
        drawSlots(slotsBox, slots, function (picked) { start = picked; });
      }, function () { if (mine === asked) show(note, text.failed); });
    }

    Array.prototype.forEach.call(form.querySelectorAll("input[name=work], input[name='book-day']"),
      function (input) { input.addEventListener("change", loadSlots); });

    var sendCode = $("send-code");
    if (sendCode) {
      sendCode.addEventListener("click", function () {
        sendCode.disabled = true;
        post(base + "/code", { phone: $("phone").value }).then(function (reply) {
          sendCode.disabled = false;
          show(message, reply.status === 202 ? text.code_sent : refusal(reply));
          message.classList.toggle("ok", reply.status === 202);
        }, function () { sendCode.disabled = false; show(message, text.failed); });
      });
    }

    function booked(appointment) {
      form.hidden = true;
      var done = $("done");
      done.hidden = false;
      $("done-when").textContent = when(appointment.start);
      workLines($("done-work"), appointment.items);
      var link = $("done-link");
      link.href = appointment.manage_url;
      link.textContent = appointment.manage_url;
      done.focus();
    }

    function offer(list) {
      clear(alternatives);
      alternatives.hidden = !list.length;
      drawSlots(alternatives, list.map(function (iso) {
        return { start: iso, time: when(iso) };
      }), function (picked) { start = picked; });
    }

    var key = null;
    var keyFor = "";
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(message, "");
      message.classList.remove("ok");
      if (!work().length) { show(message, text.choose_work); return; }
      if (!start) { show(message, text.choose_slot); return; }
      var body = {
        work: work(),
        start: start,
        plate: $("plate").value,
        name: $("name").value,
        phone: $("phone").value,
        email: $("email").value || null,
        notify: Array.prototype.map.call(
          form.querySelectorAll("input[name=notify]:checked"), function (box) { return box.value; }),
        language: data.locale
      };
      if (data.verify) body.code = $("code").value;
      // One key per booking as typed: a retry after a lost answer is the same booking.
      var typed = JSON.stringify(body);
      if (typed !== keyFor) { key = B.page.newKey(); keyFor = typed; }
      var submit = $("book-submit");
      submit.disabled = true;
      B.page.request("POST", base + "/appointments", {
        body: body, csrf: true, key: key, referrerPolicy: "no-referrer"
      }).then(function (reply) {
        submit.disabled = false;
        if (reply.status === 201 || reply.status === 200) {
          booked(reply.data.appointment || reply.data);
          return;
        }
        show(message, reply.data && reply.data.code === "capacity_full" ? text.full : refusal(reply));
        if (reply.data && reply.data.alternatives) offer(reply.data.alternatives);
        if (reply.data && reply.data.code === "capacity_full") loadSlots();
      }, function () { submit.disabled = false; show(message, text.failed); });
    });
    loadSlots();
  }

  /* ------------------------------------------------------- /a/{token} */
  function linkPage() {
    var token = decodeURIComponent(window.location.pathname.split("/").pop());
    var base = "/api/v1/appointment-link/" + encodeURIComponent(token);
    var appointment = data.appointment;
    var message = $("link-message");
    var moveTo = null;
    // No move section when the shop takes changes of time by phone only
    // (the page says to call instead): the server would refuse the move.
    var movePart = $("move");

    function render() {
      var status = appointment.status;
      var open = status === "booked";
      var begun = open && appointment.can_change === false;
      var words = open ? (appointment.confirmed ? text.confirmed : text.booked) : (text[status] || status);
      if (begun) words = text.begun;
      $("status").textContent = words;
      $("status").className = "status status-" + status;
      $("when").textContent = when(appointment.start);
      $("when").classList.toggle("ended", !open);
      $("plate").textContent = appointment.plate || "";
      workLines($("work"), appointment.items);
      // Before its start only: once the time has come, the shop is called instead.
      $("actions").hidden = !(open && appointment.can_change !== false);
      $("confirm").hidden = !!appointment.confirmed;
      $("reminders-stop").hidden = appointment.reminders === false;
      if (!open) {
        if (movePart) movePart.hidden = true;
        $("cancel").hidden = true;
      }
    }

    function act(path, body, after) {
      show(message, "");
      message.classList.remove("ok");
      return post(base + path, body).then(function (reply) {
        var found = reply.data && (reply.data.appointment || (reply.data.manage_url ? reply.data : null));
        if (reply.status === 200 || reply.status === 201) {
          appointment = found || appointment;
          render();
          if (after) after();
          return;
        }
        if (found) { appointment = found; render(); }
        show(message, reply.data && reply.data.code === "stale_version" ? text.changed : refusal(reply));
      }, function () { show(message, text.failed); });
    }

    function loadSlots() {
      moveTo = null;
      $("move-confirm").disabled = true;
      var box = $("slots");
      var note = $("slots-note");
      clear(box);
      show(note, text.loading);
      get(base + "/slots?date=" + encodeURIComponent(chosenDay("move-"))).then(function (reply) {
        if (reply.status !== 200) { show(note, refusal(reply)); return; }
        var slots = (reply.data.slots || []).filter(function (s) {
          return new Date(s.start).getTime() !== new Date(appointment.start).getTime();
        });
        show(note, slots.length ? "" : text.no_slots);
        drawSlots(box, slots, function (picked) { moveTo = picked; $("move-confirm").disabled = false; });
      }, function () { show(note, text.failed); });
    }

    $("confirm").addEventListener("click", function () { act("/confirm", {}); });
    $("reminders-stop").addEventListener("click", function () {
      act("/reminders/stop", {}, function () {
        show(message, text.reminders_stopped);
        message.classList.add("ok");
      });
    });
    $("cancel-open").addEventListener("click", function () {
      $("cancel").hidden = false;
      if (movePart) movePart.hidden = true;
      $("cancel-reason").focus();
    });
    $("cancel-close").addEventListener("click", function () { $("cancel").hidden = true; });
    $("cancel-confirm").addEventListener("click", function () {
      act("/cancel", { reason: $("cancel-reason").value }, function () { $("cancel").hidden = true; });
    });
    if (movePart) {
      $("move-open").addEventListener("click", function () {
        movePart.hidden = false; $("cancel").hidden = true; loadSlots();
      });
      $("move-close").addEventListener("click", function () { movePart.hidden = true; });
      Array.prototype.forEach.call(document.querySelectorAll("input[name='move-day']"), function (input) {
        input.addEventListener("change", loadSlots);
      });
      $("move-confirm").addEventListener("click", function () {
        if (!moveTo) return;
        act("/reschedule", { start: moveTo }, function () {
          movePart.hidden = true;
          show(message, text.moved);
          message.classList.add("ok");
        });
      });
    }
    render();
  }

  if ($("book-form")) bookingPage();
  if ($("link")) linkPage();
})(window.Baylight);
