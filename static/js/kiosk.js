/*
 * Technician kiosk: pair once, sign in with badge + PIN, see your own jobs
 * (biggest first) and tap. Each tap goes through the durable outbox (outbox.js)
 * after an undo window, so flaky Wi-Fi never loses or doubles a tap.
 * A PIN an admin set opens only the step where the technician chooses their
 * own (POST /kiosk/api/pin); then the fresh credential it answers goes on.
 * Socket and server data reach the page only through textContent.
 */
(function (B, Outbox) {
  "use strict";
  var text = B.strings();
  var photoStrings = document.getElementById("photo-strings");
  var photoText = photoStrings ? JSON.parse(photoStrings.textContent) : {};
  // The tablet shrinks the camera's picture before storing it in the outbox:
  // a 12-megapixel shot becomes ~300 kB, quick to send on weak Wi-Fi. The
  // server re-encodes it anyway (and strips what the camera wrote into it).
  var PHOTO_MAX_SIDE = 1600;
  var PHOTO_QUALITY = 0.85;
  var SESSION_KEY = "baylight.kiosk.session";
  var UNDO_MS = 3000;
  var IDLE_MS = 180000;
  var PANELS = ["login", "pin-change", "work"];
  // While a PIN must be chosen no socket is open (the server refuses the
  // credential there): a read this often notices a session ended elsewhere
  // (a deactivation, a reset, the kiosk revoked).
  var PENDING_CHECK_MS = 2000;

  var deviceToken = null;
  var session = null;
  var me = null;
  var lastData = null;
  var socketUp = true;
  var outboxOnline = true;
  var waiting = 0;
  var predicted = {};       // order id -> stage the queued taps lead to
  var lastActivity = Date.now();
  var refreshTimer = null;
  var toastTimer = null;
  var toastKey = null;
  var shownParts = {};      // order id -> {version, parts: {part id: status}}, as its card last showed it
  var pendingTimer = null;

  var $ = B.page.byId, el = B.page.el, clear = B.page.clear, fill = B.fill;

  function show(panel) {
    PANELS.forEach(function (p) { $(p).hidden = p !== panel; });
    $("logout").hidden = panel === "login";
  }
  function since(iso) { return B.page.duration(B.page.minutesSince(iso), text); }

  // ------------------------------------------------------------ session

  function loadSession() {
    try { session = JSON.parse(window.localStorage.getItem(SESSION_KEY)); } catch (e) { session = null; }
  }
  function saveSession(value) {
    session = value;
    if (value) window.localStorage.setItem(SESSION_KEY, JSON.stringify(value));
    else window.localStorage.removeItem(SESSION_KEY);
  }

  /* The kiosk's own API: the device or session token, never a cookie. */
  function request(method, path, token, body) {
    return B.page.request(method, path, { token: token, body: body, credentials: "omit" });
  }

  function signOut() {
    var token = session && session.token;
    saveSession(null);
    var done = function () { window.location.reload(); };
    if (!token) { done(); return; }
    request("POST", "/kiosk/api/logout", token).then(done, done);
  }

  // ------------------------------------------------------------ login

  /* An on-screen keypad typing into the first field, then (after →, or a
     tap on it) the second. */
  function keypad(padId, firstId, secondId) {
    var pad = $(padId);
    var target = $(firstId);
    $(firstId).addEventListener("focus", function () { target = $(firstId); });
    $(secondId).addEventListener("focus", function () { target = $(secondId); });
    ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "→"].forEach(function (key) {
      var button = el("button", "tap key", key);
      button.type = "button";
      button.setAttribute("data-key", key);
      button.addEventListener("click", function () {
        if (key === "⌫") target.value = target.value.slice(0, -1);
        else if (key === "→") { target = $(secondId); $(secondId).focus(); }
        else if (!target.maxLength || target.maxLength < 0 || target.value.length < target.maxLength) target.value += key;
      });
      pad.appendChild(button);
    });
  }

  function login(event) {
    event.preventDefault();
    var error = $("login-error");
    error.textContent = "";
    $("login-button").disabled = true;
    request("POST", "/kiosk/api/login", deviceToken, {
      badge: $("badge").value.trim(), pin: $("pin").value
    }).then(function (reply) {
      $("login-button").disabled = false;
      $("pin").value = "";
      if (reply.status === 200) {
        saveSession({ token: reply.data.token, user: reply.data.user, must_change_pin: !!reply.data.must_change_pin });
        if (session.must_change_pin) startPinChange();
        else startWork();
      } else if (reply.status === 423) {
        error.textContent = text.locked;
      } else if (reply.status === 429) {
        error.textContent = fill(text.slow_down, { seconds: reply.headers.get("Retry-After") || "60" });
      } else if (reply.status === 401 && reply.data.code === "unauthorized") {
        B.forget("kiosk");
        window.location.reload();
      } else {
        error.textContent = text.wrong_pin;
      }
    }, function () {
      $("login-button").disabled = false;
      error.textContent = text.offline;
    });
  }

  // ------------------------------------------------------------ own PIN

  /* The step after signing in with a PIN an admin set: nothing else opens
     until the technician chose their own. A credential never turns pending
     nor stops being so (a reset ends every session; the choice answers a
     fresh one), so the flag kept with it at sign-in stays true. */
  function startPinChange() {
    show("pin-change");
    lastActivity = Date.now();
    $("who").textContent = session.user.name;
    $("pin-change-error").textContent = "";
    $("new-pin").focus();
    if (pendingTimer) clearInterval(pendingTimer);
    pendingTimer = setInterval(checkPending, PENDING_CHECK_MS);
  }

  /* Still waiting for a PIN (403 pin_change_required), or ended elsewhere
     (401: back to the sign-in). */
  function checkPending() {
    if (!session || !session.must_change_pin) return;
    var token = session.token;
    request("GET", "/kiosk/api/me", token).then(function (reply) {
      // A read sent before the new PIN was saved finds its credential ended
      // by that very choice: only the credential still in use counts.
      if (reply.status !== 401 || !session || session.token !== token) return;
      saveSession(null);
      window.location.reload();
    }, function () {});
  }

  /* The rule the server holds (staff_admin.check_pin), checked first here so
     a slip costs no try of the badge's budget. */
  function pinProblem(pin, repeat) {
    var form = $("pin-change-form");
    var low = parseInt(form.getAttribute("data-pin-min"), 10);
    var high = parseInt(form.getAttribute("data-pin-max"), 10);
    if (!/^[0-9]+$/.test(pin) || pin.length < low || pin.length > high) return text.pin_format;
    if (pin !== repeat) return text.pin_mismatch;
    return "";
  }

  function pinRefused(reply) {
    var data = reply.data || {};
    if (reply.status === 422) {
      return { same_pin: text.same_pin, pin_mismatch: text.pin_mismatch }[data.reason] || text.pin_format;
    }
    if (reply.status === 423) return text.locked;
    if (reply.status === 429) return fill(text.slow_down, { seconds: reply.headers.get("Retry-After") || "60" });
    return fill(text.refused, { detail: data.title || String(reply.status) });
  }

  function changePin(event) {
    event.preventDefault();
    var error = $("pin-change-error");
    var pin = $("new-pin").value, repeat = $("repeat-pin").value;
    var problem = pinProblem(pin, repeat);
    error.textContent = problem;
    if (problem) {
      // Typed again from the start: a slip is easier to redo than to find.
      $("new-pin").value = "";
      $("repeat-pin").value = "";
      $("new-pin").focus();
      return;
    }
    $("pin-change-button").disabled = true;
    request("POST", "/kiosk/api/pin", session.token, { pin: pin, repeat: repeat }).then(function (reply) {
      $("pin-change-button").disabled = false;
      $("new-pin").value = "";
      $("repeat-pin").value = "";
      if (reply.status === 200) {
        clearInterval(pendingTimer);
        pendingTimer = null;
        saveSession({ token: reply.data.token, user: reply.data.user, must_change_pin: false });
        toast(text.pin_saved, null, null);
        startWork();
      } else if (reply.status === 401) {
        saveSession(null);
        window.location.reload();
      } else {
        error.textContent = pinRefused(reply);
        $("new-pin").focus();
      }
    }, function () {
      $("pin-change-button").disabled = false;
      error.textContent = text.offline;
    });
  }

  // ------------------------------------------------------------ data

  function refresh() {
    if (!session) return;
    request("GET", "/kiosk/api/me", session.token).then(function (reply) {
      if (reply.status === 401) { saveSession(null); window.location.reload(); return; }
      if (reply.status !== 200) return;
      var shown = {};
      reply.data.jobs.forEach(function (order) {
        noteArrivals(order);
        shown[order.id] = shownParts[order.id];
      });
      shownParts = shown;
      me = reply.data;
      lastData = new Date();
      render();
      banner();
    }, function () { socketUp = false; banner(); });
  }

  function refreshSoon() {
    if (refreshTimer) clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 250);
  }

  function banner() {
    var offline = !socketUp || !outboxOnline;
    var box = $("banner");
    box.hidden = !offline && waiting === 0;
    box.classList.toggle("banner-offline", offline);
    $("banner-offline").textContent = fill(offline ? text.waiting : text.sending, { count: waiting });
    $("banner-data").textContent = lastData && offline ? fill(text.data_from, { time: B.hhmm(lastData) }) : "";
  }

  // ------------------------------------------------------------ render

  function stageOf(order) { return predicted[order.id] || order.stage; }

  function button(label, className, handler) {
    var b = el("button", "tap " + className, label);
    b.type = "button";
    b.addEventListener("click", handler);
    return b;
  }

  /* One button per action the server offers; the server asks the policy
     (what this technician may do on this order next), so the page never
     copies the transition table. While a tap waits in the outbox, the stage
     it leads to offers what the server said that stage offers. */
  var BUTTONS = {
    "start": function (order) {
      return button(text.start, "tap-go act-start", function () { tap(order, "start", {}, text.start, "in_progress"); });
    },
    "clock-on": function (order) {
      return button(text.clock_on, "tap-go act-clock-on", function () { tap(order, "clock-on", {}, text.clock_on, null); });
    },
    "pause": function (order) {
      return button(text.pause_action, "tap-warn act-pause", function () { pauseDialog(order); });
    },
    "finish": function (order) {
      return button(text.finish, "tap-go act-finish", function () { tap(order, "finish", {}, text.finish, "quality_check"); });
    },
    "parts": function (order) {
      return button(text.parts, "tap-secondary act-parts", function () { partsDialog(order); });
    },
    "extra-work": function (order) {
      return button(text.extra_work, "tap-secondary act-extra", function () { extraDialog(order); });
    },
    "resume": function (order) {
      return button(text.resume, "tap-go act-resume", function () { tap(order, "resume", {}, text.resume, "in_progress"); });
    },
    "pass": function (order) {
      return button(text.pass, "tap-go act-pass", function () { tap(order, "pass", {}, text.pass, null); });
    },
    "fail": function (order) {
      return button(text.fail, "tap-stop act-fail", function () {
        ask(text.fail, [{ name: "reason", label: text.reason_prompt, required: true }], function (v) {
          tap(order, "fail", { reason: v.reason }, text.fail, "in_progress");
        });
      });
    }
  };

  function offered(order, check) {
    if (!predicted[order.id]) return order.allowed_actions || [];
    if (check) return [];
    return (me.actions_by_stage || {})[predicted[order.id]] || [];
  }

  function actions(order, check) {
    var box = el("div", "actions");
    offered(order, check).forEach(function (action) {
      if (BUTTONS[action]) box.appendChild(BUTTONS[action](order));
    });
    return box;
  }

  /* What the car waits for, each open reason in words (the server's list,
     in its order), then the parts that have arrived. An "other" reason is
     the technician's to end: a button per reason when the server offers
     "clear-reason". Nothing here decides what may be tapped: resume and
     clearing come only from allowed_actions. */
  function holds(order) {
    var reasons = order.stage === "paused" ? (order.pause_reasons || []) : [];
    var arrived = (order.parts || []).filter(function (p) { return p.status === "arrived"; });
    if (!reasons.length && !arrived.length) {
      if (order.stage === "paused" && order.pause_reason) {
        return el("p", "pause-reason", text.pause[order.pause_reason] || order.pause_reason);
      }
      return null;
    }
    var list = el("ul", "holds");
    reasons.forEach(function (reason) {
      var item = el("li", "hold pause-reason hold-" + reason.reason);
      item.setAttribute("data-key", reason.key);
      if (reason.reason === "parts") {
        var part = B.page.partOf(order, reason.key);
        var what = part ? part.description : reason.note;
        var eta = (part && part.eta) || reason.expected_at;
        item.appendChild(el("span", "hold-text", eta
          ? fill(text.waiting_parts_eta, { what: what, time: B.when(eta) })
          : fill(text.waiting_parts, { what: what })));
        if (part) {
          item.setAttribute("data-part-id", String(part.id));
          item.appendChild(el("span", "part-status part-" + part.status,
            text.part_status[part.status] || part.status));
        }
      } else if (reason.reason === "approval") {
        var quote = B.page.quoteOf(order, reason.key);
        item.appendChild(el("span", "hold-text",
          fill(text.waiting_approval, { what: quote ? quote.description : reason.note })));
      } else {
        item.appendChild(el("span", "hold-text", reason.note
          ? fill(text.waiting_other, { note: reason.note }) : text.pause.other));
        if (offered(order, false).indexOf("clear-reason") >= 0) {
          item.appendChild(button(text.reason_done, "tap-go act-clear-reason", function () {
            tap(order, "clear-reason", { key: reason.key }, text.reason_done, null);
          }));
        }
      }
      list.appendChild(item);
    });
    arrived.forEach(function (part) {
      var item = el("li", "hold part-arrived", fill(text.parts_arrived, { what: part.description }) +
        (part.arrived_at ? " · " + B.when(part.arrived_at) : ""));
      item.setAttribute("data-part-id", String(part.id));
      list.appendChild(item);
    });
    return list;
  }

  /* Whether this technician's clock runs on this job, said plainly on every
     job in progress: "in progress" alone never means the clock is running. */
  function clockState(order) {
    if (predicted[order.id] || order.stage !== "in_progress") return null;
    var here = me.clock && me.clock.order_id === order.id;
    var line = el("p", "clock-state " + (here ? "clock-here" : "clock-off"),
      here ? text.clock_running + " · " + since(me.clock.started_at) : text.clock_not_running);
    return line;
  }

  function card(order, check) {
    var article = el("article", "job stage-" + stageOf(order) + (order.late ? " late" : ""));
    article.setAttribute("data-order-id", String(order.id));
    var head = el("header", "job-head");
    head.appendChild(el("span", "plate", order.plate));
    head.appendChild(el("span", "model", order.vehicle && order.vehicle.model));
    head.appendChild(el("span", "stage", text.stages[stageOf(order)] || stageOf(order)));
    article.appendChild(head);
    if (!check) {
      var held = holds(order);
      if (held) article.appendChild(held);
      var clock = clockState(order);
      if (clock) article.appendChild(clock);
      if ($("arrivals").querySelector('[data-order-id="' + order.id + '"]')) article.classList.add("parts-came");
    }
    var items = el("ul", "items");
    (order.items || []).forEach(function (item) {
      items.appendChild(el("li", "", item.title + " · " + item.labour_hours + " " + text.hours));
    });
    article.appendChild(items);
    var times = el("p", "times");
    times.appendChild(el("span", "promised", text.promised + " " + B.when(order.promised_at, "—")));
    times.appendChild(el("span", "in-stage", text.in_stage + " " + since(order.stage_entered_at)));
    article.appendChild(times);
    article.appendChild(actions(order, check));
    return article;
  }

  function render() {
    if (!me) return;
    $("who").textContent = me.user.name;
    $("jobs-title").textContent = text.my_jobs;
    var jobs = clear($("jobs"));
    me.jobs.forEach(function (order) { jobs.appendChild(card(order, false)); });
    $("no-jobs").hidden = me.jobs.length > 0;
    $("no-jobs").textContent = text.no_jobs;
    var checks = clear($("checks"));
    me.checks.forEach(function (order) { checks.appendChild(card(order, true)); });
    $("checks-title").hidden = me.checks.length === 0;
    $("checks-title").textContent = text.checks;
    var line = $("clock-line");
    line.hidden = !me.clock;
    if (me.clock) {
      var on = me.jobs.filter(function (o) { return o.id === me.clock.order_id; })[0];
      line.textContent = text.clock_running + ": " + (on ? on.plate : "#" + me.clock.order_id) +
        " · " + since(me.clock.started_at);
    }
  }

  // ------------------------------------------------------------ dialogs

  var previewUrl = null;

  function dropPreview() {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
  }

  /* A camera field: the tablet's back camera, and a thumbnail of the shot. */
  function photoInput(input, label) {
    input.accept = "image/*";
    input.setAttribute("capture", "environment");
    var preview = el("img", "photo-preview");
    preview.alt = photoText.photo_preview || "";
    preview.width = 240;
    preview.hidden = true;
    input.addEventListener("change", function () {
      dropPreview();
      var file = input.files && input.files[0];
      preview.hidden = !file;
      if (file) { previewUrl = URL.createObjectURL(file); preview.src = previewUrl; }
    });
    label.appendChild(preview);
  }

  function ask(title, fields, done) {
    var dialog = $("dialog");
    $("dialog-title").textContent = title;
    var box = clear($("dialog-fields"));
    dropPreview();
    fields.forEach(function (f) {
      var label = el("label", "field", f.label);
      var input = el("input");
      input.name = f.name;
      input.type = f.type || "text";
      if (f.step) input.step = f.step;
      if (f.required) input.required = true;
      if (f.maxLength) input.maxLength = f.maxLength;
      input.setAttribute("data-field", f.name);
      label.appendChild(input);
      if (f.type === "file") photoInput(input, label);
      box.appendChild(label);
    });
    $("dialog-form").onsubmit = function (event) {
      event.preventDefault();
      var values = {};
      fields.forEach(function (f) {
        var input = box.querySelector('[data-field="' + f.name + '"]');
        values[f.name] = f.type === "file" ? (input.files && input.files[0]) || null : input.value;
      });
      dialog.close();
      dropPreview();
      done(values);
    };
    $("dialog-cancel").onclick = function () { dialog.close(); dropPreview(); };
    dialog.showModal();
  }

  /* Parts (要料): what is needed. The car waits for them until the parts
     counter marks them arrived; the tap does not guess the stage it leads
     to (the server's answer says what may be tapped while it waits). */
  function partsDialog(order) {
    ask(text.parts, [{ name: "description", label: text.parts_note, required: true, maxLength: 200 }],
      function (v) {
        tap(order, "parts", { description: v.description.trim() }, text.parts, null);
      });
  }

  /* Why the work stops. Parts and the customer's OK each have their own
     request (what is needed, the quote), offered when the server offers that
     tap; "other" asks what the car waits for. */
  function pauseDialog(order) {
    var dialog = $("dialog");
    var can = offered(order, false);
    $("dialog-title").textContent = text.pause_action;
    var box = clear($("dialog-fields"));
    if (can.indexOf("parts") >= 0) {
      box.appendChild(button(text.pause.parts, "tap-warn pause-parts", function () {
        dialog.close();
        partsDialog(order);
      }));
    }
    if (can.indexOf("extra-work") >= 0) {
      box.appendChild(button(text.pause.approval, "tap-warn pause-approval", function () {
        dialog.close();
        extraDialog(order);
      }));
    }
    box.appendChild(button(text.pause.other, "tap-warn pause-other", function () {
      dialog.close();
      ask(text.pause.other, [{ name: "reason", label: text.other_note, required: true, maxLength: 500 }],
        function (v) {
          tap(order, "pause", { pause_reason: "other", reason: v.reason.trim() },
            text.pause_action + " · " + text.pause.other, "paused");
        });
    }));
    $("dialog-form").onsubmit = function (event) { event.preventDefault(); };
    $("dialog-cancel").onclick = function () { dialog.close(); };
    dialog.showModal();
  }

  /* Upright (EXIF orientation applied), at most PHOTO_MAX_SIDE, JPEG. A
     picture this browser cannot decode goes as it is: the server decides. */
  function shrink(file) {
    if (!window.createImageBitmap) return Promise.resolve(file);
    return window.createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, PHOTO_MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) bitmap.close();
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) { resolve(blob || file); }, "image/jpeg", PHOTO_QUALITY);
      });
    }, function () { return file; });
  }

  function extraDialog(order) {
    ask(text.extra_work, [
      { name: "description", label: text.description, required: true },
      { name: "labour_hours", label: text.labour_hours, type: "number", step: "0.1", required: true },
      { name: "price", label: text.price, type: "number", step: "0.01", required: true },
      { name: "photo", label: photoText.photo || "", type: "file" }
    ], function (v) {
      var body = {
        description: v.description,
        labour_hours: parseFloat(v.labour_hours),
        price_cents: Math.round(parseFloat(v.price) * 100)
      };
      // The car waits for the customer: the server's answer says what may be tapped.
      if (!v.photo) { tap(order, "extra-work", body, text.extra_work, null); return; }
      shrink(v.photo).then(function (blob) {
        tap(order, "extra-work", body, text.extra_work, null, blob);
      });
    });
  }

  // ------------------------------------------------------------ taps

  /* One tap into the outbox; a photo rides along as its own entry, sent to
     the quote the tap creates, and undone with it. */
  function tap(order, action, extra, label, nextStage, photo) {
    var body = { version: order.version };
    Object.keys(extra).forEach(function (k) { body[k] = extra[k]; });
    if (nextStage) predicted[order.id] = nextStage;
    render();
    Outbox.add({
      path: "/kiosk/api/orders/" + order.id + "/" + action,
      body: body,
      token: session.token,
      orderId: order.id,
      label: label + " · " + order.plate,
      delayMs: UNDO_MS
    }).then(function (key) {
      if (!photo) return key;
      return Outbox.addPhoto({
        path: "/api/v1/orders/" + order.id + "/extra-work/{quote_id}/photo",
        blob: photo,
        token: session.token,
        orderId: order.id,
        label: (photoText.photo_label || "") + " · " + order.plate,
        after: key,
        delayMs: UNDO_MS
      }).then(function () { return key; });
    }).then(function (key) { toast(label + " · " + order.plate, key, order.id); });
  }

  function toast(message, key, orderId) {
    toastKey = key;
    $("toast-text").textContent = message;
    $("toast-undo").hidden = !key;
    $("toast").hidden = false;
    $("toast-undo").onclick = function () {
      Outbox.cancel(key).then(function (cancelled) {
        if (cancelled) { delete predicted[orderId]; render(); }
        hideToast();
      });
    };
    if (toastTimer) clearTimeout(toastTimer);
    toastTimer = setTimeout(hideToast, key ? UNDO_MS : 2000);
  }

  function hideToast() { $("toast").hidden = true; toastKey = null; }

  function refused(entry, data) {
    var item = el("p", "refusal", fill(text.refused, { detail: entry.label + " — " + (data.detail || data.title || "") }));
    item.setAttribute("data-code", data.code || "");
    item.addEventListener("click", function () { item.remove(); });
    $("refusals").appendChild(item);
    setTimeout(function () { item.remove(); }, 20000);
  }

  function onResult(entry, status, data) {
    delete predicted[entry.orderId];
    if (status >= 200 && status < 300) {
      if (toastKey === null) toast(text.sent + ": " + entry.label, null, entry.orderId);
    } else {
      refused(entry, data || {});
    }
    refreshSoon();
  }

  // ------------------------------------------------------------ parts arrived

  function statuses(order) {
    var seen = {};
    (order.parts || []).forEach(function (p) { seen[p.id] = p.status; });
    return { version: order.version, parts: seen };
  }

  /* A part of one of my jobs that the card showed as not there yet (or did
     not show at all) has arrived: say so at once, in a notice that stays
     until it is tapped away. The first look at a job only notes its parts;
     an older state of it (a read answered after a newer message) changes
     nothing, so an arrival is announced once. */
  function noteArrivals(order) {
    var before = shownParts[order.id];
    if (before && order.version < before.version) return;
    if (before) {
      (order.parts || []).forEach(function (part) {
        if (part.status === "arrived" && before.parts[part.id] !== "arrived") arrivalNotice(order, part);
      });
    }
    shownParts[order.id] = statuses(order);
  }

  function arrivalNotice(order, part) {
    var box = $("arrivals");
    if (box.querySelector('[data-order-id="' + order.id + '"][data-part-id="' + part.id + '"]')) return;
    var item = el("div", "arrival");
    item.setAttribute("data-order-id", String(order.id));
    item.setAttribute("data-part-id", String(part.id));
    item.appendChild(el("span", "arrival-text", fill(text.parts_arrived, { what: part.description })));
    item.appendChild(el("span", "arrival-plate", order.plate));
    item.appendChild(button(text.dismiss, "tap-secondary arrival-ok", function () {
      item.remove();
      box.hidden = !box.firstChild;
      render();
    }));
    box.appendChild(item);
    box.hidden = false;
    render();
  }

  // ------------------------------------------------------------ start

  function idleWatch() {
    ["pointerdown", "keydown", "touchstart"].forEach(function (kind) {
      document.addEventListener(kind, function () { lastActivity = Date.now(); }, { passive: true });
    });
    setInterval(function () {
      if (session && Date.now() - lastActivity > IDLE_MS) signOut();
    }, 5000);
    setInterval(render, 30000);
  }

  function startWork() {
    show("work");
    lastActivity = Date.now();
    refresh();
    var conn = B.connect({
      token: session.token,
      onSnapshot: function (snapshot) {
        if (snapshot && snapshot.shop) {
          B.useTimeZone(snapshot.shop.timezone);
          B.useShopLabels(text, snapshot.shop);
          render();
        }
        refreshSoon();
      },
      // The shop's own words for the stages, changed by an admin: at once.
      onShop: function (shop) { B.useShopLabels(text, shop); render(); },
      onOrder: function (order, seq, old) {
        // One of my jobs changed: its parts against what its card showed.
        if (order && !old && shownParts[order.id]) noteArrivals(order);
        refreshSoon();
      },
      onRevoked: function () {
        if (session) { saveSession(null); window.location.reload(); }
      }
    });
    conn.socket.on("connect", function () { socketUp = true; banner(); Outbox.flush(); refreshSoon(); });
    conn.socket.on("disconnect", function () { socketUp = false; banner(); });
    // A clock closed at the shift's end changes no order: read my clock again.
    conn.socket.on("shift_closed", refreshSoon);
    conn.socket.on("clock_started", refreshSoon);
  }

  Outbox.on("change", function (count) { waiting = count; banner(); });
  Outbox.on("online", function (value) { outboxOnline = value; banner(); if (value) refreshSoon(); });
  Outbox.on("result", onResult);

  B.pair("kiosk").then(function (token) {
    deviceToken = token;
    document.getElementById("live").hidden = false;
    keypad("keypad", "badge", "pin");
    keypad("pin-keypad", "new-pin", "repeat-pin");
    idleWatch();
    $("login-form").addEventListener("submit", login);
    $("pin-change-form").addEventListener("submit", changePin);
    $("logout").addEventListener("click", signOut);
    Outbox.start();
    loadSession();
    if (session && session.must_change_pin) startPinChange();
    else if (session) startWork();
    else { show("login"); $("badge").focus(); }
  });
})(window.Baylight, window.Outbox);
