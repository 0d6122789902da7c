/* The customer's page (/t/{token}): their own car, live. The token in the
   address is the only credential; it goes to Socket.IO as auth and into the
   POST paths, never into a GET that could change anything (link previews
   fetch GETs). Socket data only ever reaches the page through textContent. */
(function (B) {
  "use strict";

  /* The page's CSRF token (Flask-WTF), sent with every decision and survey. */
  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }
  var text = B.strings();
  var page = JSON.parse(document.getElementById("page").textContent);
  var token = decodeURIComponent(window.location.pathname.split("/").pop());
  var FLOW = ["checked_in", "dispatched", "in_progress", "quality_check", "washing", "ready",
    "delivered"];
  var CLOSED = ["ready", "delivered", "cancelled", "booked"];
  var order = null;
  var timeline = [];
  var surveyed = !!page.surveyed;
  var pending = {};
  var gone = false;
  var photoStrings = document.getElementById("photo-strings");
  var photoText = photoStrings ? JSON.parse(photoStrings.textContent) : {};
  var photos = {};            // quote id -> its picture's URL (from the list)
  var images = {};            // quote id -> <img>, kept so a redraw does not fetch again
  var photosSeen = null;      // the quote ids the last photo list was asked for

  function $(id) { return document.getElementById(id); }

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (match, name) {
      return values[name] !== undefined ? String(values[name]) : match;
    });
  }

  function formatter(options) {
    try {
      options.timeZone = page.timezone;
      return new Intl.DateTimeFormat(page.lang, options);
    } catch (ignored) {
      return null;
    }
  }
  var clock = formatter({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  var day = formatter({ month: "numeric", day: "numeric" });

  /* hh:mm in the shop's time zone, with the date when it is not today. */
  function when(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    var shown = clock ? clock.format(date) : B.hhmm(date);
    if (day && day.format(date) !== day.format(new Date())) shown = day.format(date) + " " + shown;
    return shown;
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function post(path, body) {
    return fetch("/api/v1/track/" + encodeURIComponent(token) + path, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Idempotency-Key": newKey(),
        "X-CSRFToken": csrfToken()
      },
      body: JSON.stringify(body),
      // Same-origin cookies: the session holds the secret the CSRF token is checked against.
      credentials: "same-origin",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; },
        function () { return { status: response.status, data: {} }; });
    });
  }

  /* Which quotes have a photo: asked when quotes appear, after a snapshot and
     on the server's "photo" hint, so the page never requests a missing one. */
  function loadPhotos() {
    return fetch("/api/v1/track/" + encodeURIComponent(token) + "/photos", {
      credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer"
    }).then(function (response) {
      // Only the order itself decides that the link is gone (refresh, socket).
      if (response.status !== 200) return;
      return response.json().then(function (data) {
        photos = {};
        data.photos.forEach(function (p) { photos[p.quote_id] = p.photo_url; });
        render();
      });
    }, function () { photosSeen = null; });
  }

  function quoteIds(o) {
    return (o.quotes || []).map(function (q) { return q.id; }).join(",");
  }

  function photosFor(o, force) {
    var ids = quoteIds(o);
    if (!ids || (!force && ids === photosSeen)) return;
    photosSeen = ids;
    loadPhotos();
  }

  function refresh() {
    return fetch("/api/v1/track/" + encodeURIComponent(token), {
      credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer"
    }).then(function (response) {
      if (response.status === 404) { linkGone(); return; }
      return response.json().then(function (data) { replace(data.order); });
    });
  }

  function show(el, message) {
    el.textContent = message || "";
    el.hidden = !message;
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  /* ------------------------------------------------------------ rendering */

  function lateness(o) {
    if (!o.promised_at || CLOSED.indexOf(o.stage) >= 0) return "";
    var promised = new Date(o.promised_at);
    if (new Date() > promised) return fill(text.late_past, { promised: when(o.promised_at) });
    if (o.eta && new Date(o.eta) > promised) {
      return fill(text.late, { eta: when(o.eta), promised: when(o.promised_at) });
    }
    return "";
  }

  function renderStatus(o) {
    var stage = text.stages[o.stage] || o.stage;
    $("stage").textContent = stage;
    $("stage").className = "stage stage-" + o.stage;
    show($("pause"), o.stage === "paused" && o.pause_reason ? text.pause[o.pause_reason] : "");
    var banner = "";
    if (o.stage === "ready") banner = text.ready;
    else if (o.stage === "delivered") banner = text.delivered;
    else if (o.stage === "cancelled") banner = text.cancelled;
    show($("ready-banner"), banner);
    var running = CLOSED.indexOf(o.stage) < 0;
    show($("eta"), running && o.eta ? fill(text.eta, { time: when(o.eta) }) : "");
    show($("updated"), running && o.updated_at ? fill(text.updated, { time: when(o.updated_at) }) : "");
    show($("promised"), running && o.promised_at ? fill(text.promised, { time: when(o.promised_at) }) : "");
    show($("late-banner"), lateness(o));
    document.body.classList.toggle("is-late", !!lateness(o));
    document.body.classList.toggle("is-ready", o.stage === "ready");
  }

  function renderTimeline(o) {
    var list = $("timeline");
    clear(list);
    var reached = {};
    timeline.forEach(function (entry) { reached[entry.stage] = entry.at; });
    var current = o.stage === "paused" ? "in_progress" : o.stage;
    var position = FLOW.indexOf(current);
    FLOW.forEach(function (stage, index) {
      if (stage === "washing" && !o.wash) return;
      var li = document.createElement("li");
      li.setAttribute("data-stage", stage);
      var state = index < position ? "done" : (index === position ? "current" : "todo");
      if (o.stage === "delivered" && stage === "delivered") state = "done";
      li.className = state;
      var label = document.createElement("span");
      label.className = "label";
      label.textContent = text.stages[stage] || stage;
      li.appendChild(label);
      var at = document.createElement("time");
      at.className = "at";
      if (reached[stage] && state !== "todo") {
        at.textContent = when(reached[stage]);
        at.setAttribute("datetime", reached[stage]);
      }
      li.appendChild(at);
      list.appendChild(li);
    });
  }

  function price(cents) {
    return "¥" + (cents / 100).toFixed(2);
  }

  function photoOf(q) {
    var url = photos[q.id];
    if (!url) return null;
    var img = images[q.id];
    if (!img) {
      img = document.createElement("img");
      img.className = "quote-photo";
      img.decoding = "async";
      img.referrerPolicy = "no-referrer";
      img.alt = fill(photoText.alt, { description: q.description });
      // Scaled to the phone's width (CSSOM; the CSP allows no inline styles).
      img.style.maxWidth = "100%";
      img.style.height = "auto";
      img.style.display = "block";
      img.src = url;
      images[q.id] = img;
    }
    return img;
  }

  function quoteLine(q) {
    var li = document.createElement("li");
    li.className = "quote quote-" + q.status;
    li.setAttribute("data-quote-id", String(q.id));
    var title = document.createElement("p");
    title.className = "description";
    title.textContent = q.description;
    li.appendChild(title);
    var meta = document.createElement("p");
    meta.className = "meta";
    meta.textContent = fill(text.quote_hours, { hours: q.labour_hours }) + " · " + price(q.price_cents);
    li.appendChild(meta);
    var photo = photoOf(q);
    if (photo) li.appendChild(photo);
    if (q.status === "pending") {
      var buttons = document.createElement("div");
      buttons.className = "buttons";
      [[true, text.approve, "approve"], [false, text.decline, "decline"]].forEach(function (choice) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = choice[2];
        button.textContent = choice[1];
        button.disabled = !!pending[q.id];
        button.addEventListener("click", function () { decide(q, choice[0]); });
        buttons.appendChild(button);
      });
      li.appendChild(buttons);
    } else {
      var status = document.createElement("p");
      status.className = "decision";
      status.textContent = (q.status === "approved" ? text.approved : text.declined) +
        (q.decided_at ? " · " + when(q.decided_at) : "");
      li.appendChild(status);
    }
    return li;
  }

  function renderQuotes(o) {
    var list = $("quotes");
    clear(list);
    (o.quotes || []).forEach(function (q) { list.appendChild(quoteLine(q)); });
    $("quotes-section").hidden = !(o.quotes && o.quotes.length);
  }

  function renderSurvey(o) {
    var open = o.stage === "delivered" && !surveyed;
    $("survey-form").hidden = !open;
    $("survey-section").hidden = o.stage !== "delivered";
  }

  function render() {
    if (!order || gone) return;
    renderStatus(order);
    renderTimeline(order);
    renderQuotes(order);
    renderSurvey(order);
  }

  /* ------------------------------------------------------------ state */

  function replace(fresh) {
    if (!fresh) return;
    if (fresh.timeline) timeline = fresh.timeline.slice();
    order = fresh;
    render();
    photosFor(fresh, false);
  }

  function update(fresh) {
    if (order && fresh.version < order.version) return;
    if (!fresh.timeline && fresh.stage_entered_at && (!order || order.stage !== fresh.stage)) {
      timeline.push({ stage: fresh.stage, at: fresh.stage_entered_at });
    }
    replace(fresh);
  }

  function linkGone() {
    if (gone) return;
    gone = true;
    var main = $("customer");
    clear(main);
    main.hidden = true;
    $("link-gone").hidden = false;
  }

  /* ------------------------------------------------------------ actions */

  function decide(q, approved) {
    if (pending[q.id]) return;
    pending[q.id] = true;
    render();
    show($("quote-message"), "");
    post("/extra-work/" + q.id + "/decision", { approved: approved, quote_version: q.version })
      .then(function (reply) {
        delete pending[q.id];
        if (reply.status === 200) { replace(reply.data.order); return; }
        if (reply.status === 404) { linkGone(); return; }
        show($("quote-message"),
          reply.data.code === "stale_version" ? text.quote_changed : text.decision_failed);
        render();
        refresh();
      }, function () {
        delete pending[q.id];
        show($("quote-message"), text.decision_failed);
        render();
      });
  }

  function submitSurvey(event) {
    event.preventDefault();
    var form = $("survey-form");
    var chosen = form.querySelector("input[name=rating]:checked");
    if (!chosen) return;
    $("survey-submit").disabled = true;
    post("/survey", { rating: parseInt(chosen.value, 10), comment: $("survey-comment").value })
      .then(function (reply) {
        if (reply.status === 201) {
          surveyed = true;
          show($("survey-result"), text.survey_thanks);
        } else if (reply.data.code === "already_submitted") {
          surveyed = true;
          show($("survey-result"), text.survey_done);
        } else if (reply.status === 404) {
          linkGone();
          return;
        } else {
          show($("survey-result"), text.survey_failed);
        }
        $("survey-submit").disabled = false;
        render();
      }, function () {
        $("survey-submit").disabled = false;
        show($("survey-result"), text.survey_failed);
      });
  }

  $("survey-form").addEventListener("submit", submitSurvey);
  if (surveyed) show($("survey-result"), text.survey_done);

  var live = B.connect({
    token: token,
    onSnapshot: function (snapshot) {
      if (!snapshot.orders.length) { linkGone(); return; }
      // Photos may have arrived while this page was away: ask again.
      photosSeen = null;
      replace(snapshot.orders[0]);
    },
    onOrder: function (fresh, seq, old) {
      if (old && order && order.version >= fresh.version) return;
      update(fresh);
    },
    onRevoked: function () {
      // Tell a refused link from a network failure before wiping the page.
      fetch("/api/v1/track/" + encodeURIComponent(token), {
        credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer"
      }).then(function (response) { if (response.status === 404) linkGone(); });
    }
  });
  live.socket.on("photo", function () { if (order) photosFor(order, true); });
  // "Late" depends on the clock too, not only on messages.
  setInterval(render, 30000);
})(window.Baylight);
