/*
 * Baylight page helpers, shared by every screen script (loaded before live.js
 * and the screen's own script): building elements, requests to the server, and
 * keeping the server's late / at-risk verdict current between messages.
 * - Text from the server or the socket goes into the page through textContent
 *   only, never as markup: el(), show() and the screens build on that.
 * - One request() for every call the screens make: JSON in and out, a device
 *   or session token, the page's CSRF token and an Idempotency-Key where asked.
 * Written for old TV browsers too: no modules, no top-level await, no optional chaining.
 */
(function (global) {
  "use strict";

  /* The domain's stage groups, which the page carries (shared/templates/strings.html):
     a screen sorts orders by these, never by a list of its own. */
  var groups = null;
  function stageGroups() {
    if (!groups) {
      var node = document.getElementById("stage-groups");
      groups = node ? JSON.parse(node.textContent) : {};
    }
    return groups;
  }
  function inGroup(name, stage) {
    return (stageGroups()[name] || []).indexOf(stage) >= 0;
  }
  /* The same margin as AT_RISK_MINUTES in shared/domain/eta.py (a browser test,
     tests/board/test_late_rule_in_the_page.py, holds the two to the same verdicts). */
  var AT_RISK_MS = 15 * 60 * 1000;

  function byId(id) { return document.getElementById(id); }

  /* A new element; its text (when given) is set as text, never parsed. */
  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = String(content);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  /* A message line: shown with the message, hidden without one. */
  function show(node, message) {
    node.textContent = message || "";
    node.hidden = !message;
  }

  /* Whole minutes from an ISO time until now: 0 without one, never less. */
  function minutesSince(iso) {
    if (!iso) return 0;
    return Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
  }

  /* "25 min" or "1 h 5 min", in the words of the page's strings {hours, minutes}. */
  function duration(minutes, words) {
    if (minutes < 60) return minutes + " " + words.minutes;
    return Math.floor(minutes / 60) + " " + words.hours + " " + (minutes % 60) + " " + words.minutes;
  }

  /* 128 random bits in hex: an Idempotency-Key, new for every new request. */
  function newKey() {
    var bytes = new Uint8Array(16);
    global.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  /* The page's CSRF token (Flask-WTF), for the screens signed in with a cookie. */
  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }

  /*
   * request(method, path, options) -> Promise({status, data, json, headers, retryAfter})
   * options: body (sent as JSON), raw + contentType (sent as they are), token
   * (Bearer), csrf (true: the page's token), key (Idempotency-Key), credentials
   * ("same-origin" unless told), referrerPolicy. A reply that is not JSON
   * gives data {} and json false; a network failure rejects.
   */
  function request(method, path, options) {
    var o = options || {};
    var headers = { "Accept": "application/json" };
    var body;
    if (o.raw !== undefined) {
      headers["Content-Type"] = o.contentType;
      body = o.raw;
    } else if (o.body !== undefined && o.body !== null) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(o.body);
    }
    if (o.token) headers.Authorization = "Bearer " + o.token;
    if (o.csrf) headers["X-CSRFToken"] = csrfToken();
    if (o.key) headers["Idempotency-Key"] = o.key;
    var init = {
      method: method,
      headers: headers,
      body: body,
      credentials: o.credentials || "same-origin",
      cache: "no-store"
    };
    if (o.referrerPolicy) init.referrerPolicy = o.referrerPolicy;
    return fetch(path, init).then(function (response) {
      function reply(data, json) {
        return {
          status: response.status,
          data: data,
          json: json,
          headers: response.headers,
          // Retry-After in seconds (0 when absent), for 429s and 503s.
          retryAfter: Number(response.headers.get("Retry-After")) || 0
        };
      }
      return response.json().then(function (data) { return reply(data, true); },
        function () { return reply({}, false); });
    });
  }

  /* What a refusal (problem+json) says, for a message line: its detail or
     title, the field it is about, else the status. */
  function problem(reply) {
    var data = reply.data || {};
    var detail = data.detail || data.title || String(reply.status);
    return data.field ? data.field + ": " + detail : detail;
  }

  /*
   * The server judges late and at risk when it sends an order (the rule is
   * shared/domain/eta.py `lateness`). Between messages only the clock moves,
   * and for a car in work it can only bring the promise nearer: at risk from
   * AT_RISK_MS before it, late once it has passed. So a screen keeps the verdict
   * current with this, instead of judging anything itself.
   * -> {late, atRisk, passed (the promised time itself is past)}
   */
  function lateness(order, now) {
    var late = !!order.late;
    var atRisk = !!order.at_risk;
    var passed = false;
    if (order.promised_at && inGroup("promise_running", order.stage)) {
      var promised = Date.parse(order.promised_at);
      passed = now > promised;
      late = late || passed;
      atRisk = atRisk || promised - now <= AT_RISK_MS;
    }
    return { late: late, atRisk: atRisk && !late, passed: passed };
  }

  /* The part or the quote an open pause reason is about: its key is
     "parts:<part id>" or "approval:<quote id>" (shared/domain/holds.py).
     null when the order does not carry it. */
  function keyed(list, key) {
    var id = Number(String(key).split(":")[1]);
    return (list || []).filter(function (item) { return item.id === id; })[0] || null;
  }
  function partOf(order, key) { return keyed(order.parts, key); }
  function quoteOf(order, key) { return keyed(order.quotes, key); }

  var B = global.Baylight = global.Baylight || {};
  B.page = {
    byId: byId,
    el: el,
    clear: clear,
    show: show,
    minutesSince: minutesSince,
    duration: duration,
    newKey: newKey,
    csrfToken: csrfToken,
    request: request,
    problem: problem,
    lateness: lateness,
    partOf: partOf,
    quoteOf: quoteOf,
    stageGroups: stageGroups,
    inGroup: inGroup
  };
})(window);
